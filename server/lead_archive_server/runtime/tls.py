"""TLS material for the gRPC port.

The files were checked by Settings.check() at start-up; here they are only read.
"""

from __future__ import annotations

from pathlib import Path

import grpc


def server_credentials(pair: tuple[str, str]) -> grpc.ServerCredentials:
    """gRPC server credentials from a (certificate chain, private key) pair of PEM files."""
    cert, key = pair
    return grpc.ssl_server_credentials([(Path(key).read_bytes(), Path(cert).read_bytes())])
