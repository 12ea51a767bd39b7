"""Hostile callers without a key, on another loopback address (127.0.0.2) than the callers
with one (127.0.0.1), against a real `lead-archive serve` (CONTRACT 11): gRPC memory under
half-open streams, the open-files limit, garbage protobuf, and API user names that could not
go into metadata. The REST port's bounds are in test_http_bounds.py; the heaviest runs in
tests/soak/test_hostile_soak.py.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
import psutil
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from lead_archive_client.vocabulary import MAX_MESSAGE_BYTES
from lead_archive_server.access.keys import create_key, hash_key
from lead_archive_server.core import sql
from lead_archive_server.runtime.app import create_server
from lead_archive_server.runtime.settings import Settings
from typer.testing import CliRunner
from vicidial.leads.v1 import lead_archive_pb2 as pb
from vicidial.leads.v1 import lead_archive_pb2_grpc as pb_grpc

from tests.processes import serve_environment, serving
from tests.support import TestDb, wait_until
from tests.support_h2 import HalfOpenStreams, MiB, connect_from
from tests.support_shim import ENDPOINT, full_request

ATTACKER = "127.0.0.2"
ARCHIVE = "/vicidial.leads.v1.LeadArchiveService/ArchiveLeads"
# A Python exception's words, which must never reach a caller.
PYTHON_WORDS = ("Traceback", "DecodeError", "Exception", "<class", "protobuf.message", "Unexpected")


@pytest.fixture
async def innodb(databases: dict[str, TestDb]) -> TestDb:
    tdb = databases["InnoDB"]  # process wiring does not depend on the engine
    await tdb.reset()
    return tdb


@dataclass
class Serve:
    grpc_port: int
    http_port: int
    pid: int
    log: Path

    def rss_mib(self) -> float:
        return psutil.Process(self.pid).memory_info().rss / 2**20


@asynccontextmanager
async def served(
    tdb: TestDb, tmp_path: Path, prefix: tuple[str, ...] = (), **settings: str
) -> AsyncIterator[Serve]:
    env, grpc_port, http_port = serve_environment(tdb.db.url.url(), **settings)
    log = tmp_path / "serve.log"
    async with serving(env, log, prefix=prefix) as process:
        yield Serve(grpc_port, http_port, process.pid, log)


async def keyed_grpc_call(port: int, key: str, seconds: float = 10) -> str:
    """A caller with a key, from 127.0.0.1: its answer within `seconds`."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb_grpc.LeadArchiveServiceStub(channel)
        reply = await stub.CheckAccess(
            pb.CheckAccessRequest(), metadata=[("authorization", f"Key={key}")], timeout=seconds
        )
    return reply.api_user


async def settled_rss(serve: Serve) -> float:
    """RSS once the server is idle (no growth for half a second), within 10 s."""
    previous = serve.rss_mib()
    async with asyncio.timeout(10):
        while True:
            # Not a wait for something: "settled" means no growth over this half second.
            await asyncio.sleep(0.5)
            now = serve.rss_mib()
            if abs(now - previous) < 1:
                return now
            previous = now


async def test_half_open_grpc_streams_hold_little_memory_and_a_keyed_caller_is_answered(
    innodb: TestDb, tmp_path: Path
) -> None:
    async with served(innodb, tmp_path) as serve:
        key = await create_key(innodb.db, "6666")
        before = await settled_rss(serve)
        # The attack: 1,000 streams without a key, each 1 MiB one byte short.
        keyless = HalfOpenStreams(serve.grpc_port, ATTACKER, message_bytes=MiB)
        # The worst a key of the right shape can do: messages at the size limit, one short.
        fake_key = (("authorization", "Key=" + "x" * 43),)
        keyed = HalfOpenStreams(serve.grpc_port, ATTACKER, MAX_MESSAGE_BYTES, fake_key)
        try:
            await keyless.open(1000)
            keyless_growth = serve.rss_mib() - before
            assert await keyed_grpc_call(serve.grpc_port, key) == "6666"
            await keyed.open(1000)
            grown = serve.rss_mib() - before
            held = keyed.held
            assert await keyed_grpc_call(serve.grpc_port, key) == "6666"
        finally:
            await keyless.close()
            await keyed.close()
    print(
        f"RSS {before:.0f} MiB; 1,000 keyless half-open streams of 1 MiB: +{keyless_growth:.0f} "
        f"MiB ({keyless.bytes_sent / MiB:.0f} MiB sent, {keyless.held} held); and 1,000 with "
        f"a fake key at the 64 KiB limit: +{grown:.0f} MiB in all ({held} held)"
    )
    assert keyless.held == 0  # refused before their messages were read
    assert held == 1000  # the server kept them: the bound is what they may hold, not a refusal
    assert grown < 200


async def test_started_with_1024_open_files_1100_idle_connections_lock_no_one_out(
    innodb: TestDb, tmp_path: Path
) -> None:
    prlimit = ("prlimit", "--nofile=1024:20000")
    async with served(innodb, tmp_path, prlimit) as serve:
        key = await create_key(innodb.db, "6666")
        ids = await innodb.seed(1)
        started = serve.log.read_text()
        assert re.search(
            r"gRPC listening on .*open files limit 20000 \(raised from 1024\)", started
        )
        idle = [await connect_from(ATTACKER, serve.grpc_port) for _ in range(1100)]
        try:
            assert await keyed_grpc_call(serve.grpc_port, key) == "6666"
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{serve.http_port}") as http:
                response = await http.post(
                    ENDPOINT, json=full_request(ids), headers={"Authorization": f"Key={key}"}
                )
            assert response.status_code == 200, response.text
        finally:
            for sock in idle:
                sock.close()
    assert await innodb.count("vicidial_list_archive") == 1


async def test_garbage_protobuf_is_invalid_argument_request_malformed(innodb: TestDb) -> None:
    settings = Settings(database_url=innodb.db.url.url(), office_hours="none", timezone="UTC")
    server, port = create_server(settings, innodb.db, port=0)
    await server.start()
    key = await create_key(innodb.db, "6666")
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            raw = channel.unary_unary(ARCHIVE)  # bytes in, bytes out: no serializer
            with pytest.raises(grpc.aio.AioRpcError) as garbage:
                await raw(b"\xff\xff\xff\xff\x0f", metadata=[("authorization", f"Key={key}")])
            with pytest.raises(grpc.aio.AioRpcError) as keyless:
                await raw(b"\xff\xff\xff\xff\x0f")
    finally:
        await server.stop(None)
    error = garbage.value
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == "request message is not a valid protobuf request"
    status = rpc_status.from_call(error)
    info = error_details_pb2.ErrorInfo()
    assert any(detail.Unpack(info) for detail in status.details)
    assert info.reason == "REQUEST_MALFORMED"
    assert not any(word in str(status) for word in PYTHON_WORDS), status
    assert keyless.value.code() == grpc.StatusCode.UNAUTHENTICATED  # the key comes first


# --- API user names ------------------------------------------------------------------------


def cli(tdb: TestDb, *args: str) -> tuple[int, str, str]:
    from lead_archive_server.cli.commands import app

    env = {"LEAD_ARCHIVE_DATABASE_URL": tdb.db.url.url(), "LEAD_ARCHIVE_CONFIG": None}
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        result = CliRunner().invoke(app, list(args), env=env)
    finally:  # the command logs to the runner's stream, closed after it
        root.handlers[:], root.level = handlers, level
    return result.exit_code, result.stdout, result.stderr


def test_keys_create_refuses_a_name_that_is_not_printable_ascii_in_one_line(
    innodb: TestDb,
) -> None:
    for name in ("Zoë", "ops\x1b[2J", "李"):
        code, out, err = cli(innodb, "keys", "create", "--user", name)
        assert code == 2, out + err
        assert err.count("\n") == 1 and "printable ASCII" in err, err
    code, out, _ = cli(innodb, "keys", "list")
    assert code == 0 and "ops" not in out  # nothing stored


@pytest.fixture
async def stored_bad_names(innodb: TestDb) -> dict[str, str]:
    """Keys stored before names were checked (name -> key), and one of a valid name."""
    made = {}
    for name in ("Zoë", "ops\x1b[2J\x07"):
        key = f"old-key-of-{len(made)}-0123456789abcdef"
        await innodb.execute(sql.INSERT_KEY, (name, hash_key(key), "archive", None, None))
        made[name] = key
    await create_key(innodb.db, "6666")
    return made


def test_keys_list_shows_a_stored_bad_name_escaped_and_says_it_is_refused(
    stored_bad_names: dict[str, str], innodb: TestDb
) -> None:
    code, out, _ = cli(innodb, "keys", "list")
    assert code == 0, out
    assert not any(char < " " and char != "\n" for char in out), repr(out)
    assert "'Zo\\xeb'" in out and "'ops\\x1b[2J\\x07'" in out
    assert out.count("the service refuses this key") == 2


async def test_a_stored_bad_name_is_refused_before_the_batch_runs(
    innodb: TestDb, stored_bad_names: dict[str, str], tmp_path: Path
) -> None:
    ids = await innodb.seed(2)
    before = await innodb.snapshot()
    async with served(innodb, tmp_path) as serve:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{serve.http_port}") as http:
            for key in stored_bad_names.values():
                headers = {"Authorization": f"Key={key}"}
                response = await http.post(ENDPOINT, json=full_request(ids), headers=headers)
                assert (response.status_code, response.json()) == (
                    401,
                    {"message": "unable to validate api user"},
                )
        async with grpc.aio.insecure_channel(f"127.0.0.1:{serve.grpc_port}") as channel:
            stub = pb_grpc.LeadArchiveServiceStub(channel)
            request = pb.ArchiveLeadsRequest(
                insert_leads=True, update_leads=True, delete_leads=True, lead_ids=ids
            )
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                auth = [("authorization", f"Key={stored_bad_names['Zoë']}")]
                await stub.ArchiveLeads(request, metadata=auth)
        assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
        refused = "refused a valid key of API user 'Zo\\xeb'"
        await wait_until(lambda: refused in serve.log.read_text(), 5, f"{refused!r} in the log")
    assert await innodb.snapshot() == before  # nothing ran, nothing changed
    assert "\x1b" not in serve.log.read_text()


async def test_grpc_connections_without_a_handshake_or_calls_are_closed(
    innodb: TestDb, tmp_path: Path
) -> None:
    async with served(
        innodb, tmp_path, grpc_handshake_timeout_s="1", grpc_max_connection_idle_s="1"
    ) as serve:
        silent = await connect_from(ATTACKER, serve.grpc_port)  # never says a word
        idle = HalfOpenStreams(serve.grpc_port, ATTACKER)
        await idle.open(0)  # an HTTP/2 connection, handshaken, with no call
        started = time.monotonic()
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(10):
            while await loop.sock_recv(silent, 4096):  # the server's SETTINGS, then its close
                pass
            while not idle.connections[0].terminated:
                await idle.connections[0].read_events(1)  # GOAWAY, then closed
        waited = time.monotonic() - started
        silent.close()
        await idle.close()
    assert waited < 5
