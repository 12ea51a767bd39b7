"""How the REST shim checks the certificate of the gRPC server it forwards to."""

from __future__ import annotations

import ssl
from pathlib import Path

from lead_archive_rest_shim.upstream import UpstreamTls

from lead_archive_server.runtime.settings import Settings


def upstream_tls(settings: Settings) -> UpstreamTls:
    """How `lead-archive rest --upstream-tls` checks the gRPC server's certificate.

    LEAD_ARCHIVE_UPSTREAM_CA names the CA bundle (default: the system's);
    LEAD_ARCHIVE_UPSTREAM_SERVER_NAME the name the certificate must carry (default: the
    upstream's host).
    """
    roots = Path(settings.upstream_ca).read_bytes() if settings.upstream_ca else None
    return UpstreamTls(roots, settings.upstream_server_name or None)


def local_upstream_tls(settings: Settings, cert: str) -> UpstreamTls:
    """How the shim of `lead-archive serve` checks its own gRPC server's certificate.

    It trusts LEAD_ARCHIVE_UPSTREAM_CA when set; otherwise the gRPC certificate file itself
    (so a self-signed certificate works as is) together with the system's CA bundle (so does
    one from a public CA).
    """
    if settings.upstream_ca:
        return upstream_tls(settings)
    roots = Path(cert).read_bytes()
    system = ssl.get_default_verify_paths().cafile
    if system and Path(system).is_file():
        roots += b"\n" + Path(system).read_bytes()
    return UpstreamTls(roots, settings.upstream_server_name or None)
