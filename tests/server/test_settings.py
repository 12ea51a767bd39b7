"""Settings come from LEAD_ARCHIVE_* variables and an optional TOML file; bad ones say so."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from lead_archive_server.core.database_url import DatabaseUrl
from lead_archive_server.runtime.settings import SettingsError, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("LEAD_ARCHIVE_"):
            monkeypatch.delenv(name)


def test_defaults_match_the_contract() -> None:
    settings = load_settings()
    assert (settings.grpc_port, settings.http_port) == (50051, 8080)
    assert settings.office_hours == "mon-fri 08:00-18:00"
    assert settings.holidays == settings.call_time_id == ""


def test_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEAD_ARCHIVE_DATABASE_URL", "mysql://cron:p%40ss@db.example:3307/asterisk")
    monkeypatch.setenv("LEAD_ARCHIVE_GRPC_PORT", "6000")
    monkeypatch.setenv("LEAD_ARCHIVE_TIMEZONE", "America/Chicago")
    monkeypatch.setenv("LEAD_ARCHIVE_OFFICE_HOURS", "none")
    settings = load_settings()
    assert settings.database == DatabaseUrl("db.example", 3307, "cron", "p@ss", "asterisk")
    assert settings.database.masked() == "mysql://cron:***@db.example:3307/asterisk"
    assert settings.grpc_port == 6000
    assert settings.configured_zone == ZoneInfo("America/Chicago")


def test_toml_file_with_environment_winning(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "lead-archive.toml"
    config.write_text('http_port = 9090\noffice_hours = "mon-sun 07:00-23:00"\n')
    monkeypatch.setenv("LEAD_ARCHIVE_CONFIG", str(config))
    monkeypatch.setenv("LEAD_ARCHIVE_HTTP_PORT", "9191")
    settings = load_settings()
    assert settings.http_port == 9191
    assert settings.office_hours == "mon-sun 07:00-23:00"


def test_database_url_round_trips() -> None:
    url = DatabaseUrl("h", 3306, "us er", "p:w@d", "db")
    assert DatabaseUrl.parse(url.url()) == url


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("DATABASE_URL", "postgres://x@y/z", "LEAD_ARCHIVE_DATABASE_URL must look like"),
        (
            "DATABASE_URL",
            "mysql://root@127.0.0.1:99999/x",
            "LEAD_ARCHIVE_DATABASE_URL has a bad port",
        ),
        ("DATABASE_URL", "mysql://root@127.0.0.1:3306", "names no database"),
        ("TIMEZONE", "Mars/Olympus", "LEAD_ARCHIVE_TIMEZONE"),
        ("OFFICE_HOURS", "mon-fry 08:00-18:00", "unknown day 'fry'"),
        ("HOLIDAYS", "2026-13-01", "LEAD_ARCHIVE_HOLIDAYS"),
        ("GRPC_PORT", "http", "LEAD_ARCHIVE_GRPC_PORT"),
    ],
)
def test_bad_settings_name_the_setting(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, says: str
) -> None:
    monkeypatch.setenv(f"LEAD_ARCHIVE_{name}", value)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert says in str(raised.value)
    assert "\n" not in str(raised.value)


def test_unreadable_config_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "broken.toml"
    config.write_text("http_port = = 1")
    monkeypatch.setenv("LEAD_ARCHIVE_CONFIG", str(config))
    with pytest.raises(SettingsError, match="LEAD_ARCHIVE_CONFIG"):
        load_settings()


def test_missing_config_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LEAD_ARCHIVE_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(SettingsError, match="no such file"):
        load_settings()
