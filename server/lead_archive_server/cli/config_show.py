"""`lead-archive config show`: the effective settings, as TOML, with secrets masked."""

from __future__ import annotations

import asyncio
import json

from pydantic import SecretStr

from lead_archive_server.access.schedules import ServerZone
from lead_archive_server.core.database_url import DatabaseUrl, DatabaseUrlError
from lead_archive_server.core.db import Database
from lead_archive_server.core.errors import ArchiveError
from lead_archive_server.runtime.settings import CONFIG_FILE_ENV, Settings

MASK = "***"
# Any setting whose name holds one of these is a secret, whatever is added later.
SECRET_WORDS = ("password", "secret", "token")


# How long `config show` waits for the database server's clock.
CLOCK_TIMEOUT_S = 5.0


async def zone_in_effect(settings: Settings) -> str:
    """The zone office hours are read in and where it comes from: the timezone setting,
    else the database server's clock (read now, from the server alone)."""
    office = settings.server.office
    if office.zone is not None:
        return f"{office.zone.key} (from {office.names.timezone})"
    try:
        async with asyncio.timeout(CLOCK_TIMEOUT_S):
            db = await Database.connect(settings.database.with_database(""), pool_size=1)
            try:
                zone = ServerZone(db, None, setting=office.names.timezone)
                await zone.get()
                return zone.describe()
            finally:
                await db.close()
    except (ArchiveError, TimeoutError) as error:
        reason = error.message if isinstance(error, ArchiveError) else "timed out"
        return f"the database server's clock, which cannot be read now: {reason}"


def render(settings: Settings, zone: str) -> str:
    """Every setting as a ``name = value`` TOML line; the database password is masked.

    Each line can be pasted into the file LEAD_ARCHIVE_CONFIG names (with the password put
    back); comments say where the database came from and which zone is in effect (`zone`,
    from zone_in_effect).
    """
    lines = [
        f"# lead-archive: effective settings (environment > {CONFIG_FILE_ENV} file > defaults)",
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
        elif name == "timezone":
            lines.append(f"{name} = {_toml(value)}  # in effect: {zone}")
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
