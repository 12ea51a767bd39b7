"""Who may call, and when: the API key and the office hours, checked on every request."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from lead_archive_server.access.auth_limit import FailedAuthLimiter
from lead_archive_server.access.keys import (
    KeyUses,
    LiveKey,
    LiveKeyHashes,
    key_from_authorization,
    live_key,
    shown_user,
)
from lead_archive_server.access.schedules import OfficeHoursSource
from lead_archive_server.core.db import Database
from lead_archive_server.core.errors import OfficeHours as OfficeHoursDenied
from lead_archive_server.core.errors import ScopeMissing, Unauthenticated

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
    # Each admitted key's last use, in memory; the service writes it in the background.
    key_uses: KeyUses = field(default_factory=KeyUses)

    async def admit(
        self,
        authorization: str | None,
        client: str | None = None,
        *,
        office_hours: bool = True,
        scope: str | None = None,
    ) -> str:
        """Return the API user; see admit_key."""
        return (
            await self.admit_key(authorization, client, office_hours=office_hours, scope=scope)
        ).api_user

    async def admit_key(
        self,
        authorization: str | None,
        client: str | None = None,
        *,
        office_hours: bool = True,
        scope: str | None = None,
    ) -> LiveKey:
        """Return the live key, or raise Unauthenticated (401), ScopeMissing (a live key
        without `scope`, when one is asked for) or OfficeHoursDenied (403), in that order.

        A client with too many failed attempts gets 401 for an unknown key without a
        database lookup; a live key of that client still works. A missing scope is no
        failed attempt: the key is valid. With office_hours=False (restoring leads is
        daytime work) office hours are not checked.
        """
        client = client if client is not None else self.caller.address()
        key = key_from_authorization(authorization)
        if client is not None and self.limiter.blocked(client) and not await self._live(key):
            raise Unauthenticated()
        found = await live_key(self.db, key) if key else None
        if found is None:
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
        self.caller.identified(found.api_user)
        if scope is not None and scope not in found.scopes:
            self._scope_missing(found, scope, client)
        self.key_uses.used(found.key_id, client)
        if office_hours and (await self.office_hours.schedule()).is_office_time(self.clock()):
            raise OfficeHoursDenied()
        return found

    def _scope_missing(self, found: LiveKey, scope: str, client: str | None) -> None:
        """Log and refuse a live key that lacks the scope the call needs."""
        log.warning(
            "refused key %d of API user %s: it lacks the %s scope (it has: %s)",
            found.key_id,
            shown_user(found.api_user),
            scope,
            ", ".join(found.scopes) or "none",
            extra={
                "fields": {
                    "event": "key_scope_missing",
                    "api_user": shown_user(found.api_user),
                    "scope": scope,
                    "key_id": found.key_id,
                    **({"client_ip": client} if client else {}),
                }
            },
        )
        raise ScopeMissing(scope)

    async def _live(self, key: str | None) -> bool:
        return key is not None and await self.live_keys.contains(self.db, key)
