"""`with` and `async with` support for the clients, written once."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class Closing:
    """A blocking client: `with Client(...) as client:` closes it on the way out."""

    def close(self) -> None:
        """Release the client's connections."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class AsyncClosing:
    """An asyncio client: `async with Client(...) as client:` closes it on the way out."""

    async def close(self) -> None:
        """Release the client's connections."""
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()
