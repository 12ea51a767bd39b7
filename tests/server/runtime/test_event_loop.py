"""The servers' event loop: uvloop when installed, unless LEAD_ARCHIVE_EVENT_LOOP says asyncio."""

from __future__ import annotations

import asyncio

import pytest
from lead_archive_server.cli.commands import loop_factory
from lead_archive_server.runtime.settings import Settings


def test_asyncio_loop_on_request() -> None:
    assert loop_factory("asyncio") is asyncio.new_event_loop


def test_uvloop_when_installed() -> None:
    uvloop = pytest.importorskip("uvloop")
    assert loop_factory("auto") is uvloop.new_event_loop
    assert loop_factory("uvloop") is uvloop.new_event_loop


def test_setting_defaults_to_auto(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEAD_ARCHIVE_EVENT_LOOP", "asyncio")
    assert Settings().event_loop == "asyncio"
    monkeypatch.delenv("LEAD_ARCHIVE_EVENT_LOOP")
    assert Settings().event_loop == "auto"
