"""TLS material for the gRPC port.

The files were checked by Settings.check() at start-up; here they are only read.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import grpc


def server_credentials(pair: tuple[str, str]) -> grpc.ServerCredentials:
    """gRPC server credentials from a (certificate chain, private key) pair of PEM files."""
    cert, key = pair
    return grpc.ssl_server_credentials([(Path(key).read_bytes(), Path(cert).read_bytes())])


def local_roots(upstream_ca: str, cert: str) -> bytes:
    """The CAs a client of this machine's own gRPC port (certificate ``cert``) trusts.

    The upstream CA bundle of the settings when set; otherwise the certificate file itself (so
    a self-signed certificate works as is) together with the system's CA bundle (so does one
    from a public CA).
    """
    if upstream_ca:
        return Path(upstream_ca).read_bytes()
    roots = Path(cert).read_bytes()
    system = ssl.get_default_verify_paths().cafile
    if system and Path(system).is_file():
        roots += b"\n" + Path(system).read_bytes()
    return roots
