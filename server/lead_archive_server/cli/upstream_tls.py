"""How the REST shim checks the certificate of the gRPC server it forwards to."""

from __future__ import annotations

from pathlib import Path

from lead_archive_rest_shim.upstream import UpstreamTls

from lead_archive_server.runtime.settings import HttpSettings
from lead_archive_server.runtime.tls import local_roots


def upstream_tls(http: HttpSettings) -> UpstreamTls:
    """How `lead-archive rest --upstream-tls` checks the gRPC server's certificate: the
    upstream CA bundle (default: the system's) and the name the certificate must carry
    (default: the upstream's host)."""
    roots = Path(http.upstream_ca).read_bytes() if http.upstream_ca else None
    return UpstreamTls(roots, http.upstream_server_name or None)


def local_upstream_tls(http: HttpSettings, cert: str) -> UpstreamTls:
    """How the shim of `lead-archive serve` checks its own gRPC server's certificate: it
    trusts what any client of this machine's gRPC port trusts (``runtime.tls.local_roots``)."""
    return UpstreamTls(local_roots(http.upstream_ca, cert), http.upstream_server_name or None)
