"""`lead-archive config show` prints every effective setting, secrets masked."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest
from lead_archive_server.cli.commands import app
from lead_archive_server.runtime.settings import Settings
from typer.testing import CliRunner

runner = CliRunner()


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("LEAD_ARCHIVE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("LEAD_ARCHIVE_ASTGUICLIENT_CONF", str(tmp_path / "absent.conf"))


def show() -> str:
    result = runner.invoke(app, ["config", "show"])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_every_setting_is_shown_as_toml(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEAD_ARCHIVE_HTTP_PORT", "9443")
    monkeypatch.setenv("LEAD_ARCHIVE_AUDIT", "false")
    shown = tomllib.loads(show())
    assert set(shown) == set(Settings.model_fields)
    assert shown["http_port"] == 9443
    assert shown["audit"] is False
    assert shown["database_url"] == "mysql://root@127.0.0.1:3306/asterisk"


def test_the_database_password_is_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEAD_ARCHIVE_DATABASE_URL", "mysql://cron:hunter2@db.example:3306/vici")
    text = show()
    assert "hunter2" not in text
    assert (
        'database_url = "mysql://cron:***@db.example:3306/vici"  # from LEAD_ARCHIVE_DATABASE_URL'
        in text.splitlines()
    )


def test_a_password_from_astguiclient_is_masked_and_its_source_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    conf = tmp_path / "astguiclient.conf"
    conf.write_text(
        "VARDB_server => localhost\nVARDB_database => asterisk\nVARDB_user => cron\n"
        "VARDB_pass => s3cr3tpass\nVARDB_port => 3306\n"
    )
    monkeypatch.setenv("LEAD_ARCHIVE_ASTGUICLIENT_CONF", str(conf))
    text = show()
    assert "s3cr3tpass" not in text
    assert f'"mysql://cron:***@localhost:3306/asterisk"  # from {conf}' in text


def test_a_bad_setting_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEAD_ARCHIVE_LOG_FORMAT", "xml")
    result = runner.invoke(app, ["config", "show"])
    assert result.exit_code == 2
    assert result.stderr.startswith("lead-archive: LEAD_ARCHIVE_LOG_FORMAT")
