"""`lead-archive config show`: the effective settings, as TOML, with secrets masked."""

from __future__ import annotations

import json

from pydantic import SecretStr

from lead_archive_server.core.database_url import DatabaseUrl, DatabaseUrlError
from lead_archive_server.runtime.settings import Settings

MASK = "***"
# Any setting whose name holds one of these is a secret, whatever is added later.
SECRET_WORDS = ("password", "secret", "token")


def render(settings: Settings) -> str:
    """Every setting as a ``name = value`` TOML line; the database password is masked.

    Each line can be pasted into the file LEAD_ARCHIVE_CONFIG names (with the password put
    back); a comment says where the database came from.
    """
    lines = [
        "# lead-archive: effective settings (environment > LEAD_ARCHIVE_CONFIG file > defaults)",
        f"# secrets are shown as {MASK}",
    ]
    for name, value in settings.model_dump().items():
        if name == "database_url":
            shown = _toml(settings.database.masked())
            lines.append(f"{name} = {shown}  # from {settings.database_source}")
        elif name == "replica_url" and value:
            lines.append(f"{name} = {_toml(_masked_url(value))}")
        elif isinstance(value, SecretStr):
            lines.append(f"{name} = {_toml(MASK if value.get_secret_value() else '')}")
        elif any(word in name for word in SECRET_WORDS) and value:
            lines.append(f"{name} = {_toml(MASK)}")
        elif name == "timezone" and not value:
            # Empty means the server's own zone: say which one office hours are read in.
            lines.append(f"{name} = {_toml('')}  # in effect: {settings.zone.key} (the server's)")
        else:
            lines.append(f"{name} = {_toml(value)}")
    return "\n".join(lines)


def _masked_url(url: str) -> str:
    """A database URL with its password masked (or the whole URL, if it does not parse)."""
    try:
        return DatabaseUrl.parse(url).masked()
    except DatabaseUrlError:
        return MASK


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(str(value), ensure_ascii=False)  # a valid TOML basic string
