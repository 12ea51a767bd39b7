"""The real server in its own process (`lead-archive serve`), and its two kinds of client."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
from lead_archive_server.core.database_url import DatabaseUrl
from vicidial.leads.v1 import lead_archive_pb2 as pb
from vicidial.leads.v1 import lead_archive_pb2_grpc as pb_grpc

from bench.http import KeepAliveClient, Reply

LEAD_ARCHIVE = str(Path(sys.executable).parent / "lead-archive")
ENDPOINT = "/vicidial/leads/archive"
START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 60


def free_port() -> int:
    """A port on the loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerProcess:
    """A running `lead-archive serve` and where it listens."""

    process: asyncio.subprocess.Process
    grpc_port: int
    http_port: int

    def memory_mb(self) -> tuple[float, float]:
        """(resident now, peak resident) of the server process, in MiB, from /proc."""
        fields: dict[str, float] = {}
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                fields[name] = int(value.split()[0]) / 1024
        return fields["VmRSS"], fields["VmHWM"]


def _environment(
    url: DatabaseUrl, grpc_port: int, http_port: int, extra: Mapping[str, str]
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEAD_ARCHIVE_")}
    env |= {
        "LEAD_ARCHIVE_DATABASE_URL": url.url(),
        "LEAD_ARCHIVE_GRPC_HOST": "127.0.0.1",
        "LEAD_ARCHIVE_GRPC_PORT": str(grpc_port),
        "LEAD_ARCHIVE_HTTP_HOST": "127.0.0.1",
        "LEAD_ARCHIVE_HTTP_PORT": str(http_port),
        "LEAD_ARCHIVE_OFFICE_HOURS": "none",
    }
    return env | dict(extra)


@asynccontextmanager
async def serving(
    url: DatabaseUrl, extra_env: Mapping[str, str], log: Path
) -> AsyncIterator[ServerProcess]:
    """Run `lead-archive serve` (its log into `log`) until ready; SIGTERM it on the way out."""
    grpc_port, http_port = free_port(), free_port()
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as log_file:
        process = await asyncio.create_subprocess_exec(
            LEAD_ARCHIVE,
            "serve",
            env=_environment(url, grpc_port, http_port, extra_env),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=log_file,
        )
    try:
        await _until_logged(process, log, "REST on ")
        yield ServerProcess(process, grpc_port, http_port)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.wait(), STOP_TIMEOUT_S)


@asynccontextmanager
async def shim_serving(
    url: DatabaseUrl, upstream_port: int, extra_env: Mapping[str, str], log: Path
) -> AsyncIterator[int]:
    """Run `lead-archive rest` (the shim in a process of its own) in front of the gRPC port;
    yield its HTTP port; SIGTERM it on the way out."""
    http_port = free_port()
    env = _environment(url, free_port(), http_port, extra_env)
    with log.open("wb") as log_file:
        process = await asyncio.create_subprocess_exec(
            LEAD_ARCHIVE,
            "rest",
            "--upstream",
            f"127.0.0.1:{upstream_port}",
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=log_file,
        )
    try:
        await _until_logged(process, log, "Application startup complete")
        yield http_port
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.wait(), STOP_TIMEOUT_S)


async def _until_logged(process: asyncio.subprocess.Process, log: Path, marker: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while marker not in (text := log.read_text(errors="replace")):  # noqa: ASYNC240 (tiny file)
        if process.returncode is not None or time.monotonic() > deadline:
            raise RuntimeError(f"lead-archive did not start:\n{text[-2000:]}")
        await asyncio.sleep(0.05)


def full_request(lead_ids: Sequence[int]) -> pb.ArchiveLeadsRequest:
    return pb.ArchiveLeadsRequest(
        insert_leads=True, update_leads=True, delete_leads=True, lead_ids=lead_ids
    )


def expect_full_archive(counts: Sequence[int], lead_ids: Sequence[int], via: str) -> None:
    """Every fresh lead read, inserted and deleted; none updated."""
    n = len(lead_ids)
    if tuple(counts) != (n, n, 0, n):
        raise AssertionError(f"{via}: counts {tuple(counts)} for {n} fresh leads")


class GrpcClient:
    """One channel and the plain synchronous stub, as most callers write it.

    `archive` and `fails` block the event loop while they wait: the per-batch rounds run one
    call at a time with nothing else on the loop, so that costs nothing, and the synchronous
    stub spends less of the client's CPU per call than grpc.aio does.
    """

    def __init__(self, channel: grpc.Channel, api_key: str) -> None:
        self._stub = pb_grpc.LeadArchiveServiceStub(channel)
        self._metadata = (("authorization", f"Key={api_key}"),)

    def call(self, request: pb.ArchiveLeadsRequest) -> pb.ArchiveLeadsResponse:
        response: pb.ArchiveLeadsResponse = self._stub.ArchiveLeads(
            request, metadata=self._metadata, timeout=START_TIMEOUT_S
        )
        return response

    async def archive(self, lead_ids: Sequence[int]) -> float:
        """Archive fresh leads; return milliseconds. Checks every count of the answer."""
        request = full_request(lead_ids)
        started = time.perf_counter()
        reply = self.call(request)
        elapsed = (time.perf_counter() - started) * 1000
        counts = (reply.select_count, reply.insert_count, reply.update_count, reply.delete_count)
        expect_full_archive(counts, lead_ids, "gRPC")
        return elapsed

    async def fails(self, request: pb.ArchiveLeadsRequest, code: grpc.StatusCode) -> float:
        """Send a request that must fail with `code`; return milliseconds."""
        started = time.perf_counter()
        try:
            self.call(request)
        except grpc.RpcError as error:
            elapsed = (time.perf_counter() - started) * 1000
            if error.code() != code:
                raise AssertionError(f"gRPC: {error.code()} instead of {code}") from None
            return elapsed
        raise AssertionError(f"gRPC: the request succeeded instead of failing with {code}")


class AsyncGrpcClient:
    """One grpc.aio channel, for many requests in flight (the memory soak)."""

    def __init__(self, channel: grpc.aio.Channel, api_key: str) -> None:
        self._stub = pb_grpc.LeadArchiveServiceStub(channel)
        self._metadata = (("authorization", f"Key={api_key}"),)

    async def call(self, request: pb.ArchiveLeadsRequest) -> pb.ArchiveLeadsResponse:
        response: pb.ArchiveLeadsResponse = await self._stub.ArchiveLeads(
            request, metadata=self._metadata
        )
        return response

    async def fails(self, request: pb.ArchiveLeadsRequest, code: grpc.StatusCode) -> None:
        """Send a request that must fail with `code`."""
        try:
            await self.call(request)
        except grpc.aio.AioRpcError as error:
            if error.code() != code:
                raise AssertionError(f"gRPC: {error.code()} instead of {code}") from None
            return
        raise AssertionError(f"gRPC: the request succeeded instead of failing with {code}")


@asynccontextmanager
async def grpc_client(port: int, api_key: str) -> AsyncIterator[GrpcClient]:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        grpc.channel_ready_future(channel).result(timeout=START_TIMEOUT_S)
        yield GrpcClient(channel, api_key)


@asynccontextmanager
async def async_grpc_client(port: int, api_key: str) -> AsyncIterator[AsyncGrpcClient]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        await asyncio.wait_for(channel.channel_ready(), START_TIMEOUT_S)
        yield AsyncGrpcClient(channel, api_key)


class RestClient:
    """One keep-alive HTTP client, as a caller keeps it (see bench/http.py)."""

    def __init__(self, http: KeepAliveClient) -> None:
        self._http = http

    async def post(self, body: object) -> Reply:
        return await self._http.post(ENDPOINT, json.dumps(body).encode())

    async def archive(self, lead_ids: Sequence[int]) -> float:
        """Archive fresh leads; return milliseconds. Checks status and every count."""
        body = {
            "insert_leads": True,
            "update_leads": True,
            "delete_leads": True,
            "lead_ids": list(lead_ids),
        }
        started = time.perf_counter()
        response = await self.post(body)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise AssertionError(f"REST: {response.status_code} {response.text[:300]}")
        answer = response.json()
        assert isinstance(answer, dict)
        counts = [answer[f"{k}_count"] for k in ("select", "insert", "update", "delete")]
        expect_full_archive(counts, lead_ids, "REST")
        return elapsed


@asynccontextmanager
async def rest_client(port: int, api_key: str) -> AsyncIterator[RestClient]:
    headers = {"Authorization": f"Key={api_key}", "Content-Type": "application/json"}
    http = KeepAliveClient("127.0.0.1", port, headers)
    try:
        yield RestClient(http)
    finally:
        await http.close()
