"""Claim the service's TCP ports before anything listens, and say which one is taken.

Neither port is shared: the gRPC server is built with SO_REUSEPORT off (grpcio turns it
on by default, which let a second server on another database take half the calls), and
the HTTP sockets are bound here, without it, and handed to uvicorn.
"""

from __future__ import annotations

import errno
import socket

from lead_archive_server.core.errors import OperatorError

# grpcio's channel argument for SO_REUSEPORT; 0 makes a taken port an error.
GRPC_NO_PORT_SHARING = ("grpc.so_reuseport", 0)


class PortUnavailable(OperatorError):
    """A port cannot be listened on; the message is one line naming the setting."""


def bind_tcp(host: str, port: int, setting: str) -> list[socket.socket]:
    """Bound (not yet listening) sockets for every address of host, or PortUnavailable."""
    bare = host.strip("[]") or None
    try:
        addresses = socket.getaddrinfo(bare, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as error:
        raise PortUnavailable(
            f"{setting}: cannot resolve host {host!r}: {error.strerror}"
        ) from None
    bound: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in addresses:
            sock = socket.socket(family, kind, proto)
            bound.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT only
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
    except OSError as error:
        for sock in bound:
            sock.close()
        raise PortUnavailable(_reason(setting, host, port, error)) from None
    return bound


def ensure_free(host: str, port: int, setting: str) -> None:
    """Raise PortUnavailable unless host:port can be bound right now."""
    for sock in bind_tcp(host, port, setting):
        sock.close()


def _reason(setting: str, host: str, port: int, error: OSError) -> str:
    where = f"{host or '*'}:{port}"
    if error.errno == errno.EADDRINUSE:
        return f"{setting}: port {port} is already in use ({where}); is another server running?"
    return f"{setting}: cannot listen on {where}: {error.strerror or error}"
