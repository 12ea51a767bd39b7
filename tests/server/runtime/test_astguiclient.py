"""With no LEAD_ARCHIVE_DATABASE_URL, the database comes from Vicidial's astguiclient.conf."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from lead_archive_server.cli.commands import app
from lead_archive_server.runtime.astguiclient import DEFAULT_PATH, parse_database, parse_lines
from lead_archive_server.runtime.settings import (
    DEFAULT_DATABASE_URL,
    DatabaseUrl,
    SettingsError,
    load_settings,
)
from typer.testing import CliRunner

from tests.support import TestDb, query

# The layout Vicidial's install.pl writes, comments and all.
CONF = """\
# astguiclient.conf - configuration elements for the astguiclient package
# this is the astguiclient configuration file
# all comments will be lost if you run install.pl again

# Paths used by astGUIclient
PATHhome => /usr/share/astguiclient
PATHlogs => /var/log/astguiclient

# The IP address of this machine
VARserver_ip => 10.0.0.4

# Database connection information
VARDB_server => {server}
VARDB_database => {database}
VARDB_user => {user}
VARDB_pass => {password}
VARDB_custom_user => custom
VARDB_custom_pass => custom1234
VARDB_port => {port}

# Alpha-Numeric list of the astGUIclient processes to be kept running
VARactive_keepalives => 12345689EC
"""


def conf_text(**values: object) -> str:
    defaults = {"server": "localhost", "database": "asterisk", "user": "cron"}
    return CONF.format(**(defaults | {"password": "1234", "port": 3306} | values))


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("LEAD_ARCHIVE_"):
            monkeypatch.delenv(name)


@pytest.fixture
def conf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "astguiclient.conf"
    monkeypatch.setenv("LEAD_ARCHIVE_ASTGUICLIENT_CONF", str(path))
    return path


def test_the_default_path_is_vicidials() -> None:
    assert DEFAULT_PATH == "/etc/astguiclient.conf"


def test_reads_the_vardb_lines_as_vicidial_does() -> None:
    text = conf_text(server="db.example", password="s3cr3t", port=3307)
    text += "VARDB_pass=>p4ss  # a comment Vicidial strips\n"  # the last line wins
    assert parse_database(text).__dict__ == {
        "server": "db.example",
        "database": "asterisk",
        "user": "cron",
        "password": "p4ss",
        "port": 3307,
    }
    # VARDB_custom_user is its own key, not a second VARDB_user.
    assert parse_lines(text)["VARDB_custom_user"] == "custom"


def test_vardb_port_defaults_to_3306() -> None:
    text = "\n".join(line for line in conf_text().splitlines() if "VARDB_port" not in line)
    assert parse_database(text).port == 3306


def test_settings_take_the_database_from_the_file(conf: Path) -> None:
    conf.write_text(conf_text(server="db.example", password="p@ss:w/rd", port=3307))
    settings = load_settings()
    assert settings.database == DatabaseUrl("db.example", 3307, "cron", "p@ss:w/rd", "asterisk")
    assert settings.database_source == str(conf)


def test_the_variable_wins_over_the_file(conf: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conf.write_text(conf_text())
    monkeypatch.setenv("LEAD_ARCHIVE_DATABASE_URL", "mysql://me@other:3306/vici")
    settings = load_settings()
    assert settings.database.host == "other"
    assert settings.database_source == "LEAD_ARCHIVE_DATABASE_URL"


def test_the_config_file_wins_over_astguiclient(
    conf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf.write_text(conf_text())
    toml = tmp_path / "lead-archive.toml"
    toml.write_text('database_url = "mysql://me@fromtoml:3306/vici"\n')
    monkeypatch.setenv("LEAD_ARCHIVE_CONFIG", str(toml))
    assert load_settings().database.host == "fromtoml"


def test_no_file_keeps_the_old_default(conf: Path) -> None:
    settings = load_settings()
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert settings.database_source == "default"


def test_a_file_without_vardb_user_says_so(conf: Path) -> None:
    lines = conf_text().splitlines()
    conf.write_text("\n".join(line for line in lines if "VARDB_user" not in line))
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert str(raised.value) == f"LEAD_ARCHIVE_ASTGUICLIENT_CONF: {conf}: VARDB_user is missing"


def test_an_unreadable_file_says_so(conf: Path) -> None:
    conf.mkdir()  # exists, but cannot be read as a file (even by root)
    with pytest.raises(SettingsError, match=r"^LEAD_ARCHIVE_ASTGUICLIENT_CONF: cannot read"):
        load_settings()


def test_the_cli_connects_with_the_files_credentials(conf: Path, tdb: TestDb) -> None:
    url = tdb.db.url
    text = conf_text(server=url.host, database=url.database, user=url.user, password=url.password)
    conf.write_text(text.replace("VARDB_port => 3306", f"VARDB_port => {url.port}"))
    result = CliRunner().invoke(app, ["keys", "create", "--user", "fromconf"])
    assert result.exit_code == 0, result.output
    assert query(tdb, "SELECT api_user FROM lead_archive_api_keys") == [("fromconf",)]
