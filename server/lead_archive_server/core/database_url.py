"""Where the database is: the parts of a mysql://user:pass@host:port/db URL."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit


class DatabaseUrlError(ValueError):
    """The URL is not a database URL; the message is one line naming what is wrong."""


@dataclass(frozen=True)
class DatabaseUrl:
    """Parts of a mysql://user:pass@host:port/db URL."""

    host: str
    port: int
    user: str
    password: str
    database: str

    @classmethod
    def parse(cls, url: str) -> DatabaseUrl:
        """Parse a database URL, or raise DatabaseUrlError naming what is wrong."""
        shape = "must look like mysql://user:pass@host:port/db"
        try:
            parts = urlsplit(url)
        except ValueError:  # e.g. an unclosed [IPv6 bracket
            raise DatabaseUrlError(shape) from None
        if parts.scheme not in ("mysql", "mariadb"):
            raise DatabaseUrlError(shape)
        try:
            port = parts.port or 3306
        except ValueError:
            raise DatabaseUrlError("has a bad port") from None
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=port,
            user=unquote(parts.username or "root"),
            password=unquote(parts.password or ""),
            database=unquote(parts.path.lstrip("/")),
        )

    def url(self) -> str:
        """The URL form the database setting takes."""
        user = quote(self.user, safe="")
        secret = ":" + quote(self.password, safe="") if self.password else ""
        return f"mysql://{user}{secret}@{self.host}:{self.port}/{quote(self.database, safe='')}"

    def masked(self) -> str:
        """Return the URL with the password hidden."""
        secret = ":***" if self.password else ""
        return f"mysql://{self.user}{secret}@{self.host}:{self.port}/{self.database}"

    def with_database(self, database: str) -> DatabaseUrl:
        """Return the same server with another database name."""
        return DatabaseUrl(self.host, self.port, self.user, self.password, database)
