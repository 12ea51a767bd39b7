"""Helpers for tests that run the real `lead-archive` console script in its own process."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import NamedTuple

import httpx

from tests.support import wait_until

LEAD_ARCHIVE = str(Path(sys.executable).parent / "lead-archive")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServeEnvironment(NamedTuple):
    env: dict[str, str]
    grpc_port: int
    http_port: int


def serve_environment(database_url: str, **settings: str) -> ServeEnvironment:
    """`lead-archive serve`'s environment on two free ports; office hours off unless given
    (tests run at any hour)."""
    grpc_port, http_port = free_port(), free_port()
    values = {"office_hours": "none"} | settings
    env = environment(
        database_url=database_url, grpc_port=str(grpc_port), http_port=str(http_port), **values
    )
    return ServeEnvironment(env, grpc_port, http_port)


def environment(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEAD_ARCHIVE_")}
    return env | {f"LEAD_ARCHIVE_{k.upper()}": v for k, v in values.items()}


@asynccontextmanager
async def running(*args: str, env: dict[str, str]) -> AsyncIterator[asyncio.subprocess.Process]:
    """Run the command; on leaving, SIGTERM it and insist it exits cleanly."""
    process = await asyncio.create_subprocess_exec(
        LEAD_ARCHIVE,
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        returncode = await asyncio.wait_for(process.wait(), 30)
        assert returncode == 0, (await process.stderr.read()).decode()[-2000:]


async def finished(*args: str, env: dict[str, str], seconds: float = 120) -> tuple[int, str, str]:
    """Run the command to its end, stdin closed: its exit code, stdout and stderr."""
    process = await asyncio.create_subprocess_exec(
        LEAD_ARCHIVE,
        *args,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), seconds)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def read_until(stream: asyncio.StreamReader, pattern: str, seconds: float = 60) -> str:
    """Read lines until one matches; return everything read."""
    seen = ""
    async with asyncio.timeout(seconds):
        while not re.search(pattern, seen):
            line = await stream.readline()
            if not line:
                raise AssertionError(f"process ended before {pattern!r}:\n{seen}")
            seen += line.decode()
    return seen


async def wait_for_http(port: int) -> None:
    async with httpx.AsyncClient() as client:

        async def answers() -> bool:
            try:
                await client.get(f"http://127.0.0.1:{port}/docs")
            except httpx.TransportError:
                return False
            return True

        await wait_until(answers, 30, f"HTTP on port {port}", every=0.1)


@asynccontextmanager
async def serving(
    env: dict[str, str], log: Path, *, stop_s: float = 30, prefix: tuple[str, ...] = ()
) -> AsyncIterator[asyncio.subprocess.Process]:
    """Run `lead-archive serve` (after `prefix`, e.g. prlimit and its options) logging to a
    file until its REST port answers; on leaving, SIGTERM it and insist it exits cleanly."""
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            *prefix, LEAD_ARCHIVE, "serve", env=env, stdout=out, stderr=out
        )
    try:
        await wait_for_http(int(env["LEAD_ARCHIVE_HTTP_PORT"]))
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        returncode = await asyncio.wait_for(process.wait(), stop_s)
        assert returncode == 0, log.read_text(errors="replace")[-3000:]  # noqa: ASYNC240
