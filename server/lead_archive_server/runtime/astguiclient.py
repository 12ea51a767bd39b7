"""Vicidial's own /etc/astguiclient.conf: the database settings every Vicidial script reads.

Lines look like ``VARDB_server => localhost``. Vicidial's Perl and PHP read each line by
deleting spaces, tabs, ``>`` and everything from ``#`` or ``;`` on, then taking what
follows the last ``=``; this module does the same, so it reads a file exactly as Vicidial
does (a password containing ``#``, ``;``, ``=`` or a space cannot work for Vicidial either).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_PATH = "/etc/astguiclient.conf"
DEFAULT_PORT = 3306
_NOISE = re.compile(r" |>|\n|\r|\t|#.*|;.*")
REQUIRED = ("VARDB_server", "VARDB_database", "VARDB_user")


class AstguiclientError(ValueError):
    """The file cannot give a database; the message names the key or the problem."""


@dataclass(frozen=True)
class VicidialDatabase:
    """The VARDB_* values of an astguiclient.conf."""

    server: str
    database: str
    user: str
    password: str
    port: int


def parse_lines(text: str) -> dict[str, str]:
    """Every ``NAME => value`` line, cleaned the way Vicidial cleans it; the last one wins."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = _NOISE.sub("", raw)
        if "=" not in line:
            continue
        name = line.split("=", 1)[0]
        values[name] = line.rsplit("=", 1)[1]
    return values


def parse_database(text: str) -> VicidialDatabase:
    """The database settings of an astguiclient.conf, or AstguiclientError naming what lacks."""
    values = parse_lines(text)
    for name in REQUIRED:
        if not values.get(name):
            raise AstguiclientError(f"{name} is missing")
    port_text = values.get("VARDB_port") or str(DEFAULT_PORT)
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise AstguiclientError(f"VARDB_port {port_text!r} is not a port number")
    return VicidialDatabase(
        server=values["VARDB_server"],
        database=values["VARDB_database"],
        user=values["VARDB_user"],
        password=values.get("VARDB_pass", ""),
        port=int(port_text),
    )
