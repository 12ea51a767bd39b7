"""The fault seam: a MySQL wire proxy between the service's pool and MariaDB.

The service runs its production code, unchanged; its pool connects through the proxy
(`WireProxy.url`). The proxy reads the MySQL client/server protocol as it passes: the
server's handshake (which names the connection's thread id), each command the client sends
(a round trip) and, for each query, every statement's result in turn (OK, ERR or a result
set; SERVER_MORE_RESULTS_EXISTS in a result's status says another follows). Every round
trip is kept (`Conversation.round_trips`), so a test can say how the service talked.

A test arms a rule (`WireProxy.on_query`) on a query, by a regular expression over its text.
When a client sends a matching query, the rule's action runs before the query goes on and
decides what happens (`Moment`): the query is sent on at once or later (a stall), the
server's thread is killed from another connection (`KILL <thread id>`), the connection is
cut (RST to both ends), or the server's answers are kept from the client.

The statements of one round trip run inside the server with no client in between, so a
point between two of them is reached server-side (`Hold`): a trigger BEFORE the next
statement's first row waits on a named lock that the test holds for that one connection
(`GET_LOCK`; no table lock, no control table the statement would have to lock), so a kill,
an ALTER or a dialer's write lands exactly there, and releasing the lock lets the statement
go on. A held statement has written nothing yet: on MyISAM the data is as after the
statements before it, on InnoDB nothing commits without the COMMIT.
"""

from __future__ import annotations

import asyncio
import re
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field, replace

from lead_archive_server.core.database_url import DatabaseUrl
from lead_archive_server.core.db import Database

from tests.support import wait_until

# The queries of a batch, as the service sends them (a rule catches the first query that
# matches, on any connection through the proxy).
LOCK = r"GET_LOCK\(CONCAT\('lead_archive:'"  # lock, begin, membership and definitions
WRITES = r"^(INSERT|UPDATE|DELETE) "  # the writes: insert … delete, in one round trip
# The COMMIT's round trip (the audit row may come first; the lock's release follows), not
# the bare COMMIT the driver sends after a new connection's init_command.
COMMIT = r"(^|; )COMMIT; "

COM_QUIT = 0x01
COM_QUERY = 0x03
CLIENT_SSL = 0x0800
CLIENT_DEPRECATE_EOF = 0x01000000
MORE_RESULTS = 0x0008  # SERVER_MORE_RESULTS_EXISTS
MAX_PAYLOAD = 0xFFFFFF  # a payload this long continues in the next packet
WAIT_S = 20  # the longest a test waits for the server to reach a point


@dataclass
class Result:
    """One statement's answer in a round trip."""

    kind: str  # "ok", "rows" (a result set) or "error"
    count: int = 0  # rows changed (ok) or rows sent (rows)
    error: int | None = None  # the server's error number
    more: bool = False  # another statement's result follows


@dataclass
class RoundTrip:
    """A command the client sent, and the results it got back so far."""

    query: str
    results: list[Result] = field(default_factory=list)
    # Set by its last result (no more to follow), or when the connection ended first.
    complete: asyncio.Event = field(default_factory=asyncio.Event)
    _grown: asyncio.Event = field(default_factory=asyncio.Event)

    async def answered(self, count: int) -> None:
        """Wait until `count` of its statements have answered, or it ended."""
        async with asyncio.timeout(WAIT_S):
            while len(self.results) < count and not self.complete.is_set():
                self._grown.clear()
                await self._grown.wait()

    def add(self, result: Result) -> None:
        self.results.append(result)
        if not result.more:
            self.complete.set()
        self._grown.set()

    def end(self) -> None:
        """The connection ended: nothing more will come."""
        self.complete.set()
        self._grown.set()


class Conversation:
    """One client connection through the proxy, read as the MySQL protocol."""

    def __init__(self, client: asyncio.StreamWriter, server: asyncio.StreamWriter) -> None:
        self.thread_id = 0  # from the server's handshake
        self.round_trips: list[RoundTrip] = []
        self.stray: list[Result] = []  # sent by the server unasked (a killed idle connection)
        self.closed = asyncio.Event()  # the server's end is gone
        self.cut_off = False
        self._client, self._server = client, server
        self._phase = "handshake"  # then "login", "commands", or "opaque" (TLS: not read)
        self._deprecate_eof = False
        self._state = "idle"  # reading: "first" result packet, "columns", "eof", "rows"
        self._pending = 0  # column definitions still to come
        self._rows = 0
        self._held_replies: list[bytes] | None = None

    @property
    def last(self) -> RoundTrip:
        return self.round_trips[-1]

    def from_client(self, payload: bytes, sequence: int) -> RoundTrip | None:
        """Read a client packet; the round trip it starts, if it is a query."""
        if self._phase == "login" and not self.round_trips and sequence == 1:
            flags = int.from_bytes(payload[:4], "little")
            self._deprecate_eof = bool(flags & CLIENT_DEPRECATE_EOF)
            if flags & CLIENT_SSL:
                self._phase = "opaque"
        if self._phase != "commands" or sequence != 0 or not payload:
            return None
        command = payload[0]
        if command == COM_QUIT:
            return None
        text = payload[1:].decode("utf-8", "replace") if command == COM_QUERY else ""
        self.round_trips.append(RoundTrip(text or f"command {command:#04x}"))
        self._state = "first"
        return self.last if command == COM_QUERY else None

    def from_server(self, payload: bytes) -> None:
        """Read a server packet: the handshake, the login's outcome, or a result's part."""
        if self._phase == "handshake":
            end = payload.index(b"\0", 1)  # after the protocol version, the server's version
            self.thread_id = int.from_bytes(payload[end + 1 : end + 5], "little")
            self._phase = "login"
        elif self._phase == "login":
            if payload[:1] == b"\x00":
                self._phase = "commands"
        elif self._phase == "commands":
            self._read_reply(payload)

    def _read_reply(self, payload: bytes) -> None:
        head = payload[0]
        if self._state == "idle":
            self.stray.append(_error(payload) if head == 0xFF else Result("other"))
        elif head == 0xFF:
            self._finish(_error(payload))
        elif self._state == "first":
            if head == 0x00:
                self._finish(_ok(payload))
            else:  # a result set: its column count, definitions, (EOF), rows, EOF
                self._pending, self._rows, self._state = _lenenc(payload, 0)[0], 0, "columns"
        elif self._state == "columns":
            self._pending -= 1
            if not self._pending:
                self._state = "rows" if self._deprecate_eof else "eof"
        elif self._state == "eof":
            self._state = "rows"
        elif head == 0xFE and len(payload) < (MAX_PAYLOAD if self._deprecate_eof else 9):
            status = _ok(payload).more if self._deprecate_eof else _eof_more(payload)
            self._finish(Result("rows", self._rows, more=status))
        else:
            self._rows += 1

    def _finish(self, result: Result) -> None:
        self._state = "first" if result.more else "idle"
        self.last.add(result)

    async def to_server(self, raw: bytes) -> None:
        if not self.cut_off and not self.closed.is_set():
            with suppress(ConnectionError):
                self._server.write(raw)
                await self._server.drain()

    async def to_client(self, raw: bytes) -> None:
        if self._held_replies is not None:
            self._held_replies.append(raw)
        elif not self.cut_off:
            self._client.write(raw)
            await self._client.drain()

    def hold_replies(self) -> None:
        """Keep what the server sends from now on from the client (still read and recorded):
        cut the connection then, and the answers are lost on the way."""
        self._held_replies = []

    def cut(self) -> None:
        """Reset both ends at once (RST): the network between them is gone."""
        self.cut_off = True
        for writer in (self._client, self._server):
            sock = writer.get_extra_info("socket")
            if sock is not None:
                with suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()

    def close(self) -> None:
        for writer in (self._client, self._server):
            if self.cut_off:
                writer.transport.abort()
            else:
                writer.close()


def _lenenc(payload: bytes, at: int) -> tuple[int, int]:
    """A length-encoded integer at `at`: its value, and where the next field starts."""
    first = payload[at]
    width = {0xFC: 2, 0xFD: 3, 0xFE: 8}.get(first, 0)
    if not width:
        return first, at + 1
    return int.from_bytes(payload[at + 1 : at + 1 + width], "little"), at + 1 + width


def _ok(payload: bytes) -> Result:
    """An OK packet (0x00, or 0xFE ending a result set): rows changed, more to come."""
    changed, at = _lenenc(payload, 1)
    _, at = _lenenc(payload, at)  # the last insert id
    status = int.from_bytes(payload[at : at + 2], "little")
    return Result("ok", changed, more=bool(status & MORE_RESULTS))


def _eof_more(payload: bytes) -> bool:
    """Whether an EOF packet (0xFE, warnings, status) says more results follow."""
    return bool(int.from_bytes(payload[3:5], "little") & MORE_RESULTS)


def _error(payload: bytes) -> Result:
    return Result("error", error=int.from_bytes(payload[1:3], "little"))


async def _read_packet(reader: asyncio.StreamReader) -> tuple[bytes, bytes, int]:
    """One packet as sent (header and payload, continuations included), its payload and its
    sequence number."""
    raw, payload, sequence = bytearray(), bytearray(), -1
    while True:
        header = await reader.readexactly(4)
        length = int.from_bytes(header[:3], "little")
        body = await reader.readexactly(length)
        sequence = header[3] if sequence < 0 else sequence
        raw += header + body
        payload += body
        if length < MAX_PAYLOAD:
            return bytes(raw), bytes(payload), sequence


Action = Callable[["Moment"], Awaitable[None]]


@dataclass
class Rule:
    """What to do the next `times` times a client sends a query matching `pattern`."""

    pattern: re.Pattern[str]
    action: Action
    times: int
    caught: list[Moment] = field(default_factory=list)

    @property
    def fired(self) -> bool:
        return bool(self.caught)


@dataclass
class Moment:
    """A query a rule caught, not sent on yet. After the action the query goes on, unless
    the action sent it already or cut the connection."""

    proxy: WireProxy
    conversation: Conversation
    round_trip: RoundTrip
    _raw: bytes
    forwarded: bool = False

    async def forward(self) -> None:
        """Send the query on to the server."""
        self.forwarded = True
        await self.conversation.to_server(self._raw)

    async def kill(self) -> None:
        """KILL the server's thread from another connection; return once it is gone."""
        await self.proxy.kill(self.conversation)

    @asynccontextmanager
    async def hold(self, hold: Hold) -> AsyncIterator[Held]:
        """Hold this connection's next statement that fires `hold`'s trigger, until the
        block ends (see Hold)."""
        async with self.proxy.holding(hold, self.conversation, self.round_trip) as held:
            yield held


class WireProxy:
    """Forwards 127.0.0.1:port to the database's server, reading the protocol as it goes.

    `admin` is a pool that reaches the server directly: it sends the KILLs and holds.
    """

    def __init__(self, admin: Database) -> None:
        self.admin = admin
        self.conversations: list[Conversation] = []
        self.failures: list[BaseException] = []  # actions that failed: raised by close()
        self._rules: list[Rule] = []
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @classmethod
    @asynccontextmanager
    async def running(cls, admin: Database) -> AsyncIterator[WireProxy]:
        proxy = cls(admin)
        proxy._server = await asyncio.start_server(proxy._serve, "127.0.0.1", 0)
        try:
            yield proxy
        finally:
            await proxy.close()

    @classmethod
    @asynccontextmanager
    async def with_pool(
        cls, admin: Database, *, pool_size: int = 4
    ) -> AsyncIterator[tuple[WireProxy, Database]]:
        """A proxy in front of `admin`'s database, and a pool that connects through it."""
        async with cls.running(admin) as proxy:
            db = await Database.connect(proxy.url, pool_size=pool_size)
            try:
                yield proxy, db
            finally:
                await db.close()

    @property
    def url(self) -> DatabaseUrl:
        """The database's URL, through the proxy."""
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return replace(self.admin.url, host="127.0.0.1", port=port)

    def on_query(self, pattern: str, action: Action, *, times: int = 1) -> Rule:
        """Run `action` the next `times` times a client sends a query matching `pattern`."""
        rule = Rule(re.compile(pattern), action, times)
        self._rules.append(rule)
        return rule

    def round_trips(self, pattern: str) -> list[RoundTrip]:
        """Every round trip of every connection whose query matches `pattern`."""
        found = re.compile(pattern)
        return [t for c in self.conversations for t in c.round_trips if found.search(t.query)]

    async def kill(self, conversation: Conversation) -> None:
        """KILL a connection's server thread and wait until the server has closed it."""
        async with self.admin.session() as session:
            await session.execute("KILL %s", [conversation.thread_id])
        await asyncio.wait_for(conversation.closed.wait(), WAIT_S)

    @asynccontextmanager
    async def holding(
        self, hold: Hold, conversation: Conversation, round_trip: RoundTrip
    ) -> AsyncIterator[Held]:
        """Take `hold`'s named lock for this connection (its trigger then waits for it);
        release it when the block ends."""
        name = hold.lock_name(conversation.thread_id)
        async with self.admin.session() as session:
            assert await session.fetch_all("SELECT GET_LOCK(%s, 0)", [name]) == [(1,)]
            try:
                yield Held(self.admin, hold, conversation, round_trip)
            finally:
                await session.fetch_all("SELECT RELEASE_LOCK(%s)", [name])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for conversation in self.conversations:
            conversation.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
        if self.failures:
            raise self.failures[0]

    async def _serve(
        self, client_reader: asyncio.StreamReader, client: asyncio.StreamWriter
    ) -> None:
        try:
            server_reader, server = await asyncio.open_connection(
                self.admin.url.host, self.admin.url.port
            )
        except OSError:
            client.transport.abort()
            return
        conversation = Conversation(client, server)
        self.conversations.append(conversation)
        pumps = (
            self._from_client(conversation, client_reader),
            self._from_server(conversation, server_reader),
        )
        tasks = [asyncio.create_task(pump) for pump in pumps]
        self._tasks.update(tasks)
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.difference_update(tasks)

    async def _from_client(self, conversation: Conversation, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                raw, payload, sequence = await _read_packet(reader)
                round_trip = conversation.from_client(payload, sequence)
                rule = self._rule_for(round_trip) if round_trip else None
                if rule is None or round_trip is None:
                    await conversation.to_server(raw)
                    continue
                moment = Moment(self, conversation, round_trip, raw)
                rule.caught.append(moment)
                try:
                    await rule.action(moment)
                except Exception as error:  # the test fails on it (close), not in silence
                    self.failures.append(error)
                    conversation.cut()
                    raise
                if not moment.forwarded and not conversation.cut_off:
                    await moment.forward()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            conversation.close()

    async def _from_server(self, conversation: Conversation, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                raw, payload, _ = await _read_packet(reader)
                conversation.from_server(payload)
                await conversation.to_client(raw)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            conversation.closed.set()
            if conversation.round_trips:
                conversation.last.end()
            conversation.close()

    def _rule_for(self, round_trip: RoundTrip) -> Rule | None:
        for rule in self._rules:
            if rule.times > 0 and rule.pattern.search(round_trip.query):
                rule.times -= 1
                return rule
        return None


@dataclass(frozen=True)
class Hold:
    """A point inside a statement, before its first row: a trigger BEFORE `event` ON `table`
    that waits while the test holds the named lock of this connection and this hold."""

    table: str
    event: str  # INSERT, UPDATE or DELETE

    def lock_name(self, thread_id: int | str) -> str:
        return f"fault_hold:{thread_id}:{self.table}.{self.event}"

    @property
    def trigger(self) -> str:
        return f"fault_hold_{self.table}_{self.event.lower()}"

    def create_trigger(self) -> str:
        name = self.lock_name("', CONNECTION_ID(), '")
        return (
            f"CREATE TRIGGER {self.trigger} BEFORE {self.event} ON {self.table} FOR EACH ROW "
            f"IF IS_USED_LOCK(CONCAT('{name}')) IS NOT NULL THEN "
            f"DO GET_LOCK(CONCAT('{name}'), {WAIT_S * 3}); DO RELEASE_LOCK(CONCAT('{name}')); "
            "END IF"
        )


# Where the fault tests hold a batch's statement. Archive: before the insert (the writes'
# first statement), before the update (after the insert), before the READY hopper rows'
# delete (after the update; also the sweep after the COMMIT), before the delete from
# vicidial_list (after the hopper rows, or the update when there are none). Restore: before
# the delete from the archive (after the insert into vicidial_list).
BEFORE_INSERT = Hold("vicidial_list_archive", "INSERT")
BEFORE_UPDATE = Hold("vicidial_list_archive", "UPDATE")
BEFORE_HOPPER = Hold("vicidial_hopper", "DELETE")
BEFORE_DELETE = Hold("vicidial_list", "DELETE")
BEFORE_ARCHIVE_DELETE = Hold("vicidial_list_archive", "DELETE")
HOLDS = (BEFORE_INSERT, BEFORE_UPDATE, BEFORE_HOPPER, BEFORE_DELETE, BEFORE_ARCHIVE_DELETE)


@asynccontextmanager
async def holds_installed(db: Database, holds: Sequence[Hold]) -> AsyncIterator[None]:
    """Create the holds' triggers (idle until a test takes a hold's lock); drop them after."""
    try:
        for hold in holds:
            await _execute(db, f"DROP TRIGGER IF EXISTS {hold.trigger}")
            await _execute(db, hold.create_trigger())
        yield
    finally:
        for hold in holds:
            await _execute(db, f"DROP TRIGGER IF EXISTS {hold.trigger}")


async def _execute(db: Database, statement: str) -> None:
    async with db.session() as session:
        await session.execute(statement)


@dataclass
class Held:
    """A hold taken for one connection (Moment.hold)."""

    admin: Database
    hold: Hold
    conversation: Conversation
    round_trip: RoundTrip

    async def engaged(self) -> None:
        """Wait until the connection's statement waits in the hold's trigger; fail if its
        round trip ends first (the statement had no row to touch)."""
        waiting = (
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST "
            "WHERE ID = %s AND STATE = 'User lock' AND INFO LIKE %s"
        )
        args = [self.conversation.thread_id, "%fault_hold:%"]

        async def waits_there() -> bool:
            async with self.admin.session() as session:
                if (await session.fetch_all(waiting, args))[0][0]:
                    return True
            assert not self.round_trip.complete.is_set(), (
                f"the round trip ended before {self.hold} held it: {self.round_trip.results}"
            )
            return False

        await wait_until(waits_there, WAIT_S, f"{self.hold} to hold the statement", every=0.01)


async def kill_before(moment: Moment) -> None:
    """An action: KILL the connection, then let the query go on (into a closed connection)."""
    await moment.kill()


def kill_held(hold: Hold) -> Action:
    """An action: send the query on, hold it at `hold` and KILL the connection there."""

    async def action(moment: Moment) -> None:
        async with moment.hold(hold) as held:
            await moment.forward()
            await held.engaged()
            await moment.kill()

    return action


def run_held(hold: Hold, during: Callable[[], Awaitable[None]]) -> Action:
    """An action: send the query on, hold it at `hold`, run `during`, then let it go on."""

    async def action(moment: Moment) -> None:
        async with moment.hold(hold) as held:
            await moment.forward()
            await held.engaged()
            await during()

    return action


def run_before(before: Callable[[], Awaitable[None]]) -> Action:
    """An action: run `before` (from another connection), then let the query go on."""

    async def action(moment: Moment) -> None:
        await before()

    return action
