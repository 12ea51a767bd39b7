"""Who may call, and when: the API key and the office hours, checked on every request."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from lead_archive_server.access.auth_limit import FailedAuthLimiter
from lead_archive_server.access.keys import LiveKeyHashes, key_from_authorization, user_for_key
from lead_archive_server.access.schedules import OfficeHoursSource
from lead_archive_server.core.db import Database
from lead_archive_server.core.errors import OfficeHours as OfficeHoursDenied
from lead_archive_server.core.errors import Unauthenticated

log = logging.getLogger("server.access")

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The real clock; tests pass their own."""
    return datetime.now(UTC)


class Caller(Protocol):
    """What the guard learns from and tells the call being served (service.calls)."""

    def address(self) -> str | None:
        """The client's address, which the failed-authentication limit keys on."""
        ...

    def identified(self, api_user: str) -> None:
        """The key is valid and names this user (told before the office hours are checked)."""
        ...


class NoCaller:
    """A guard used outside a call (tests, tools): no address, nobody to tell."""

    def address(self) -> str | None:
        """No address."""
        return None

    def identified(self, api_user: str) -> None:
        """Nobody to tell."""


@dataclass
class AccessGuard:
    """Checks a caller's key, then the office hours, in the documented order."""

    db: Database
    office_hours: OfficeHoursSource
    clock: Clock = utc_now
    limiter: FailedAuthLimiter = field(default_factory=FailedAuthLimiter)
    live_keys: LiveKeyHashes = field(default_factory=LiveKeyHashes)
    caller: Caller = field(default_factory=NoCaller)

    async def admit(
        self, authorization: str | None, client: str | None = None, *, office_hours: bool = True
    ) -> str:
        """Return the API user, or raise Unauthenticated (401) or OfficeHoursDenied (403).

        A client with too many failed attempts gets 401 for an unknown key without a
        database lookup; a live key of that client still works. With office_hours=False
        (restoring leads is daytime work) only the key is checked.
        """
        client = client if client is not None else self.caller.address()
        key = key_from_authorization(authorization)
        if client is not None and self.limiter.blocked(client) and not await self._live(key):
            raise Unauthenticated()
        api_user = await user_for_key(self.db, key) if key else None
        if api_user is None:
            if client is not None and self.limiter.failed(client):
                log.warning(
                    "client %s locked out: %d failed authentications within %gs; for %gs "
                    "its unknown keys get 401 unchecked, valid keys still work",
                    client,
                    self.limiter.max_failures,
                    self.limiter.window_s,
                    self.limiter.cooldown_s,
                    extra={"fields": {"client_ip": client, "event": "auth_lockout"}},
                )
            raise Unauthenticated()
        self.caller.identified(api_user)
        if office_hours and (await self.office_hours.schedule()).is_office_time(self.clock()):
            raise OfficeHoursDenied()
        return api_user

    async def _live(self, key: str | None) -> bool:
        return key is not None and await self.live_keys.contains(self.db, key)
