"""Certificate and key files: checked once at start-up, so a bad one stops it with one line."""

from __future__ import annotations

import ssl


def check_pair(pair: tuple[str, str] | None) -> None:
    """Both files given, readable, PEM, and the key matching the certificate; else ValueError."""
    if pair is None:
        return
    cert, key = pair
    if not cert or not key:
        raise ValueError(f"a {'key' if cert else 'certificate'} is needed too (…_TLS_KEY/_CERT)")
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
    except OSError as error:
        reason = error.strerror or str(error)
        raise ValueError(f"cannot load {cert!r} with {key!r}: {reason}") from None
