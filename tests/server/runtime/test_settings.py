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
    assert settings.server.office.zone == ZoneInfo("America/Chicago")


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
        ("DATABASE_URL", "postgres://x@y/z", "must look like mysql://user:pass@host:port/db"),
        ("DATABASE_URL", "mysql://root@127.0.0.1:99999/x", "has a bad port"),
        ("DATABASE_URL", "mysql://root@127.0.0.1:3306", "names no database"),
        ("REPLICA_URL", "replica.example", "must look like mysql://user:pass@host:port/db"),
        ("TIMEZONE", "Mars/Olympus", "unknown timezone 'Mars/Olympus'"),
        ("OFFICE_HOURS", "mon-fry 08:00-18:00", "unknown day 'fry'"),
        ("HOLIDAYS", "2026-13-01", "cannot parse '2026-13-01'"),
        ("TRUSTED_PROXIES", "10.0.0.0/8, proxy", "'proxy' is not an IP address or network"),
        ("GRPC_PORT", "http", "valid integer"),
        ("BATCH_LOCKS", "rows", "'database' or 'ranges'"),
    ],
)
def test_bad_settings_name_the_setting(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, says: str
) -> None:
    monkeypatch.setenv(f"LEAD_ARCHIVE_{name}", value)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert str(raised.value).startswith(f"LEAD_ARCHIVE_{name}: "), raised.value
    assert says in str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_bad_value_from_the_file_is_named_by_its_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "lead-archive.toml"
    config.write_text('office_hours = "mon-fry 08:00-18:00"\n')
    monkeypatch.setenv("LEAD_ARCHIVE_CONFIG", str(config))
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert str(raised.value).startswith(f"{config}: office_hours: cannot parse")


def test_batch_locks_choose_range_locks_for_the_service(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().server.range_locks is False
    monkeypatch.setenv("LEAD_ARCHIVE_BATCH_LOCKS", "ranges")
    assert load_settings().server.range_locks is True


def test_values_are_parsed_once_into_typed_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    import ipaddress

    monkeypatch.setenv("LEAD_ARCHIVE_TRUSTED_PROXIES", "10.0.0.0/8, ::1")
    monkeypatch.setenv("LEAD_ARCHIVE_TIMEZONE", "America/Chicago")
    monkeypatch.setenv("LEAD_ARCHIVE_NIGHTLY_STATUS", "NA,B")
    monkeypatch.setenv("LEAD_ARCHIVE_REPLICA_URL", "mysql://repl@replica:3307/")
    settings = load_settings(database_url="mysql://u@h/db")
    assert settings.server.trusted_proxies == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("::1"),
    )
    assert settings.http.trusted_proxies is settings.server.trusted_proxies  # one parse
    assert settings.server.office.zone == ZoneInfo("America/Chicago")
    assert settings.server.office.weekly.weekly[0] == ((8 * 60, 18 * 60),)
    assert settings.nightly.status == "NA,B"
    assert settings.bulk_client.replica == DatabaseUrl("replica", 3307, "repl", "", "")
    assert settings.server is settings.server  # built once


def test_setting_names_come_from_the_model() -> None:
    from lead_archive_server.runtime.settings import env_name

    assert env_name("grpc_port") == "LEAD_ARCHIVE_GRPC_PORT"
    with pytest.raises(KeyError):
        env_name("grpc_prot")


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
