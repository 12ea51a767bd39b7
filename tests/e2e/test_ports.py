"""A port in use stops start-up with one line naming it; no two servers share a port."""

from __future__ import annotations

import asyncio
import socket
import subprocess

from tests.processes import LEAD_ARCHIVE, environment, free_port, read_until, running
from tests.support import TestDb


def _start(command: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LEAD_ARCHIVE, command],
        env=environment(office_hours="none", **env),
        capture_output=True,
        text=True,
        timeout=30,  # a server that starts instead of refusing is ended here
    )


async def test_a_second_grpc_server_on_the_same_port_stops_with_one_line(
    databases: dict[str, TestDb],
) -> None:
    url = databases["InnoDB"].db.url.url()
    port = str(free_port())
    async with running("grpc", env=environment(database_url=url, grpc_port=port)) as first:
        await read_until(first.stderr, "gRPC on")
        second = await asyncio.to_thread(_start, "grpc", database_url=url, grpc_port=port)
    assert second.returncode == 1
    assert second.stderr.splitlines() == [
        f"lead-archive: LEAD_ARCHIVE_GRPC_PORT: port {port} is already in use "
        f"(127.0.0.1:{port}); is another server running?"
    ]


def test_a_taken_http_port_stops_serve_before_grpc_listens(
    databases: dict[str, TestDb],
) -> None:
    grpc_port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        http_port = taken.getsockname()[1]
        result = _start(
            "serve",
            database_url=databases["InnoDB"].db.url.url(),
            grpc_port=str(grpc_port),
            http_port=str(http_port),
        )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"lead-archive: LEAD_ARCHIVE_HTTP_PORT: port {http_port} is already in use "
        f"(127.0.0.1:{http_port}); is another server running?"
    ]


def test_grpc_refuses_a_port_another_program_holds(databases: dict[str, TestDb]) -> None:
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)  # as grpcio would
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        url = databases["InnoDB"].db.url.url()
        result = _start("grpc", grpc_port=str(port), database_url=url)
    assert result.returncode == 1
    assert f"LEAD_ARCHIVE_GRPC_PORT: port {port} is already in use" in result.stderr
    assert len(result.stderr.splitlines()) == 1
