"""Bounded requests on a real `lead-archive serve`: header bytes and count (however the head
arrives), head time, the whole request's time, idle keep-alive, open connections in all and
per client address, memory; unauthenticated bodies get the documented 401 first, unread.

Attackers connect from 127.0.0.2, callers from 127.0.0.1: per-address limits act as they
would on two hosts."""

from __future__ import annotations

import asyncio
import inspect
import json
import time
import tomllib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import httptools
import httpx
import psutil
import pytest
import uvicorn
from lead_archive_server.access.keys import create_key
from lead_archive_server.cli.http_limits import HttpLimits, bounded_protocol
from packaging.requirements import Requirement
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle
from uvicorn.server import ServerState

from tests.processes import LEAD_ARCHIVE, serve_environment, serving
from tests.support import TestDb, wait_until
from tests.support_h2 import connect_from

ATTACKER = "127.0.0.2"
ROOT = Path(__file__).resolve().parents[2]

ENDPOINT = "/vicidial/leads/archive"
UNAUTHORIZED = {"message": "unable to validate api user"}
GRPC_WORDING = ("SERVER:", "Received message", "metadata", "grpc", "gRPC", "aiomysql", "pymysql")


@dataclass
class Served:
    port: int
    pid: int
    env: dict[str, str]

    def rss_mib(self) -> float:
        return psutil.Process(self.pid).memory_info().rss / 2**20

    def open_connections(self) -> int:
        """Connections the server has accepted on its HTTP port and not closed."""
        return sum(
            1
            for c in psutil.Process(self.pid).net_connections("tcp")
            if c.laddr and c.laddr.port == self.port and c.status == psutil.CONN_ESTABLISHED
        )

    async def healthy(self) -> bool:
        async with httpx.AsyncClient() as client:
            try:
                answer = await client.get(f"http://127.0.0.1:{self.port}/healthz")
            except httpx.TransportError:
                return False
            return answer.status_code == 200


@asynccontextmanager
async def served(tdb: TestDb, tmp_path: Path, **settings: str) -> AsyncIterator[Served]:
    env, _, http_port = serve_environment(tdb.db.url.url(), **settings)
    async with serving(env, tmp_path / "serve.log") as process:
        yield Served(http_port, process.pid, env)


@pytest.fixture
async def innodb(databases: dict[str, TestDb]) -> TestDb:
    tdb = databases["InnoDB"]  # process wiring does not depend on the engine
    await tdb.reset()
    return tdb


async def raw_exchange(
    port: int, head: bytes, *, chunk: int = 65536, wait_s: float = 10, source: str = "127.0.0.1"
) -> bytes:
    """Send a request head (in chunks, stopping if the server closes), return its answer."""
    reader, writer = await asyncio.open_connection(sock=await connect_from(source, port))
    try:
        with suppress(ConnectionError):
            for start in range(0, len(head), chunk):
                writer.write(head[start : start + chunk])
                await writer.drain()
        with suppress(ConnectionError):
            return await asyncio.wait_for(read_response(reader), wait_s)
        return b""
    finally:
        writer.close()


async def read_response(reader: asyncio.StreamReader) -> bytes:
    """One whole response (its head and Content-Length bytes), or what came before EOF."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as cut:
        return cut.partial
    length = next(
        (
            int(line.split(b":")[1])
            for line in head.lower().split(b"\r\n")
            if line.startswith(b"content-length:")
        ),
        0,
    )
    return head + await reader.readexactly(length)


def status_and_body(answer: bytes) -> tuple[int, dict[str, object]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), json.loads(body)


def request_head(*headers: bytes) -> bytes:
    lines = [b"POST /vicidial/leads/archive HTTP/1.1", b"Host: x", *headers]
    return b"\r\n".join(lines) + b"\r\n\r\n"


async def test_huge_headers_are_refused_and_memory_stays_bounded(
    innodb: TestDb, tmp_path: Path
) -> None:
    async with served(innodb, tmp_path) as serve:
        assert await serve.healthy()  # the first request's allocations belong to the baseline
        before = serve.rss_mib()
        for _ in range(5):
            answer = await raw_exchange(serve.port, request_head(b"X-Big: " + b"a" * (12 << 20)))
            status, body = status_and_body(answer)
            assert (status, body) == (
                431,
                {"message": "request headers are larger than 16384 bytes"},
            )
        many = [b"X-H%05d: %s" % (n, b"b" * 1000) for n in range(64_000)]
        status, _ = status_and_body(await raw_exchange(serve.port, request_head(*many)))
        assert status == 431
        grown = serve.rss_mib() - before
    print(f"RSS before {before:.0f} MiB, growth after 61 MiB of headers {grown:.1f} MiB")
    assert grown < 30


async def test_too_many_small_headers_are_refused(innodb: TestDb, tmp_path: Path) -> None:
    async with served(innodb, tmp_path, http_max_headers="20") as serve:
        headers = [b"X-N%d: 1" % n for n in range(30)]
        answer = await raw_exchange(serve.port, request_head(*headers))
    assert status_and_body(answer) == (431, {"message": "request has more than 20 headers"})


async def test_silent_and_slow_connections_are_closed(innodb: TestDb, tmp_path: Path) -> None:
    async with served(innodb, tmp_path, http_header_timeout_s="1") as serve:
        started = time.monotonic()
        silent = await raw_exchange(serve.port, b"", wait_s=10)
        assert silent == b""  # closed, with nothing to say to a client that said nothing
        assert time.monotonic() - started < 5
        slow = await raw_exchange(serve.port, b"POST /vicidial/leads/archive HTTP/1.1\r\nHo")
    assert status_and_body(slow) == (
        408,
        {"message": "request headers were not received within 1 s"},
    )


async def test_idle_keep_alive_connections_are_closed(innodb: TestDb, tmp_path: Path) -> None:
    async with served(innodb, tmp_path, http_keep_alive_s="1") as serve:
        reader, writer = await asyncio.open_connection("127.0.0.1", serve.port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        first = await asyncio.wait_for(reader.readuntil(b'"ok"}'), 10)
        assert first.startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        assert await asyncio.wait_for(reader.read(65536), 10) == b""
        assert time.monotonic() - started < 4
        writer.close()


async def test_connections_over_the_limit_get_503(innodb: TestDb, tmp_path: Path) -> None:
    async with served(innodb, tmp_path, http_max_connections="3") as serve:
        idle = [await asyncio.open_connection("127.0.0.1", serve.port) for _ in range(3)]
        await wait_until(lambda: serve.open_connections() >= 3, 10, "3 connections accepted")
        answer = await raw_exchange(serve.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        for _, writer in idle:
            writer.close()
        assert status_and_body(answer) == (
            503,
            {"message": "too many open connections (3); try again shortly"},
        )
        # The limit frees up with the connections.
        await wait_until(serve.healthy, 10, "a connection under the limit again")


async def test_unauthenticated_bodies_and_headers_get_the_documented_401(
    innodb: TestDb, tmp_path: Path
) -> None:
    big_body = (
        b'{"insert_leads": true, "update_leads": true, "delete_leads": true, "lead_ids": [-1'
        + b",-1" * 300_000
        + b"]}"
    )
    async with (
        served(innodb, tmp_path, http_max_header_bytes="262144") as serve,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{serve.port}") as client,
    ):
        cases = [
            ({}, big_body),
            ({"Authorization": "Key=" + "k" * 100_000}, b"{}"),
            ({"Authorization": "Key=" + "k" * 2_000}, b"{}"),
        ]
        for headers, body in cases:
            response = await client.post(ENDPOINT, content=body, headers=headers)
            assert (response.status_code, response.json()) == (401, UNAUTHORIZED)
        created = await asyncio.create_subprocess_exec(
            LEAD_ARCHIVE,
            "keys",
            "create",
            "--user",
            "6666",
            env=serve.env,
            stdout=asyncio.subprocess.PIPE,
        )
        key = (await created.communicate())[0].decode().split()[-1]
        response = await client.post(
            ENDPOINT, content=big_body, headers={"Authorization": f"Key={key}"}
        )
    # The documented answer, not a gRPC size limit's 500: the shim sends 501 of the IDs.
    assert (response.status_code, response.json()) == (
        400,
        {"message": "lead_ids cannot exceed 500 values", "lead_errors": 0, "lead_ids": []},
    )
    assert not any(word in response.text for word in GRPC_WORDING), response.text


async def test_a_head_over_the_limit_in_one_read_is_refused(innodb: TestDb, tmp_path: Path) -> None:
    head = request_head(b"X-Big: " + b"a" * 120_000)
    async with served(innodb, tmp_path) as serve:
        answer = await raw_exchange(serve.port, head, chunk=len(head), source=ATTACKER)
    assert status_and_body(answer) == (
        431,
        {"message": "request headers are larger than 16384 bytes"},
    )


def slow_body_head(key: str | None, length: int = 1000) -> bytes:
    """A POST's head, and the first byte of a body that never comes."""
    auth = [b"Authorization: Key=" + key.encode()] if key else []
    return request_head(b"Content-Length: %d" % length, *auth) + b"{"


async def test_connections_per_address_are_bounded_and_another_address_is_served(
    innodb: TestDb, tmp_path: Path
) -> None:
    async with served(innodb, tmp_path, http_max_connections_per_client="4") as serve:
        key = await create_key(innodb.db, "6666")
        held = []
        for _ in range(4):
            _, writer = await asyncio.open_connection(sock=await connect_from(ATTACKER, serve.port))
            writer.write(slow_body_head(key))
            held.append(writer)
        refused = await raw_exchange(serve.port, slow_body_head(None), source=ATTACKER)
        started = time.monotonic()
        async with httpx.AsyncClient() as client:  # another address is served at once
            healthy = await client.get(f"http://127.0.0.1:{serve.port}/healthz")
        waited = time.monotonic() - started
        for writer in held:
            writer.close()
    assert status_and_body(refused) == (
        503,
        {"message": "too many open connections from your address (4); try again shortly"},
    )
    assert healthy.status_code == 200 and waited < 2


async def test_a_body_not_sent_in_time_is_408_and_a_keyless_one_401_unread(
    innodb: TestDb, tmp_path: Path
) -> None:
    async with served(innodb, tmp_path, http_request_timeout_s="2") as serve:
        key = await create_key(innodb.db, "6666")
        started = time.monotonic()
        keyless = await raw_exchange(serve.port, slow_body_head(None, 1 << 20), source=ATTACKER)
        unread_s = time.monotonic() - started
        started = time.monotonic()
        slow = await raw_exchange(serve.port, slow_body_head(key), source=ATTACKER)
        slow_s = time.monotonic() - started
    # 401 while the body had not even begun: it was never waited for, read or parsed.
    assert status_and_body(keyless) == (401, UNAUTHORIZED) and unread_s < 1.5
    assert status_and_body(slow) == (408, {"message": "request was not received within 2 s"})
    assert 1.5 < slow_s < 5


# What cli/http_limits.py takes from uvicorn's private HttpToolsProtocol: the methods it
# overrides or calls, with their parameters, and the attributes it reads.
PROTOCOL_METHODS = {
    "connection_made": ["self", "transport"],
    "connection_lost": ["self", "exc"],
    "data_received": ["self", "data"],
    "on_message_begin": ["self"],
    "on_url": ["self", "url"],
    "on_header": ["self", "name", "value"],
    "on_headers_complete": ["self"],
    "on_message_complete": ["self"],
    "send_400_response": ["self", "msg"],
    "_unset_keepalive_if_required": ["self"],
}
PROTOCOL_ATTRIBUTES = ("loop", "logger", "parser", "connections", "transport", "client", "cycle")
CYCLE_ATTRIBUTES = ("response_started", "disconnected", "message_event")
WIDEN_WITH_CARE = (
    "uvicorn changed what cli/http_limits.py builds on: read it against the new uvicorn "
    "before widening the pin in pyproject.toml"
)


def test_uvicorn_is_the_version_pinned_for_http_limits() -> None:
    """The installed uvicorn is one pyproject.toml pins (the versions http_limits was read
    against); a wider environment would run the bounds on an unread protocol."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    [pin] = [Requirement(d) for d in project["dependencies"] if d.startswith("uvicorn")]
    installed = version("uvicorn")
    assert pin.specifier.contains(installed), (
        f"uvicorn {installed} is installed, pyproject.toml pins {pin.specifier}: {WIDEN_WITH_CARE}"
    )


@pytest.mark.parametrize("name", sorted(PROTOCOL_METHODS))
def test_uvicorns_protocol_methods_are_what_http_limits_overrides(name: str) -> None:
    method = getattr(HttpToolsProtocol, name, None)
    assert callable(method), f"HttpToolsProtocol.{name} is gone: {WIDEN_WITH_CARE}"
    parameters = list(inspect.signature(method).parameters)
    assert parameters == PROTOCOL_METHODS[name], (
        f"HttpToolsProtocol.{name}{tuple(parameters)}: {WIDEN_WITH_CARE}"
    )


async def test_uvicorns_protocol_state_is_what_http_limits_reads() -> None:
    """Build the bounded protocol as uvicorn does; what http_limits reads is there, and
    nothing of ours (attributes, helper methods) takes the name of something of uvicorn's."""
    loop = asyncio.get_running_loop()
    config = uvicorn.Config(app=_no_app, http=bounded_protocol(HttpLimits(16384, 64, 10.0, 512)))
    config.load()
    assert issubclass(config.http_protocol_class, HttpToolsProtocol), WIDEN_WITH_CARE
    made = config.http_protocol_class(config, ServerState(), {}, _loop=loop)
    plain = HttpToolsProtocol(config, ServerState(), {}, _loop=loop)
    for name in PROTOCOL_ATTRIBUTES:
        assert hasattr(plain, name), f"HttpToolsProtocol has no {name}: {WIDEN_WITH_CARE}"
    assert made.loop is loop and isinstance(made.connections, set), WIDEN_WITH_CARE
    assert isinstance(made.parser, httptools.HttpRequestParser), WIDEN_WITH_CARE
    uvicorns = inspect.getsource(HttpToolsProtocol)
    for name in set(vars(made)) - set(vars(plain)):
        assert f"self.{name}" not in uvicorns, f"http_limits' {name} is uvicorn's too"
    ours = set(vars(config.http_protocol_class)) - set(PROTOCOL_METHODS)
    for name in (n for n in ours if not n.startswith("__")):
        assert not hasattr(HttpToolsProtocol, name), f"http_limits' {name}() is uvicorn's too"


def test_uvicorns_request_cycle_is_what_http_limits_reads() -> None:
    cycle = inspect.signature(RequestResponseCycle.__init__).parameters
    assert {"message_event", "transport", "flow"} <= set(cycle), WIDEN_WITH_CARE
    source = inspect.getsource(RequestResponseCycle)
    for name in CYCLE_ATTRIBUTES:
        assert f"self.{name} =" in source, f"RequestResponseCycle sets no {name}: {WIDEN_WITH_CARE}"


async def _no_app(scope: object, receive: object, send: object) -> None:
    """An ASGI app that is never called (the protocol is only built)."""
