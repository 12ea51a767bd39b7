"""The lead-archive command, through typer's CliRunner, against the real database."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import pytest
from lead_archive_server.cli.commands import app
from typer.testing import CliRunner

from tests.support import TestDb, query

runner = CliRunner()


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tdb: TestDb) -> TestDb:
    for name in ("LEAD_ARCHIVE_CONFIG", "LEAD_ARCHIVE_OFFICE_HOURS", "LEAD_ARCHIVE_TIMEZONE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LEAD_ARCHIVE_DATABASE_URL", tdb.db.url.url())
    return tdb


def invoke(*args: str):
    return runner.invoke(app, list(args))


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["serve"],
        ["grpc"],
        ["rest"],
        ["demo"],
        ["db", "init"],
        ["keys", "create"],
        ["keys", "list"],
        ["keys", "revoke"],
    ],
)
def test_every_command_has_help(command: list[str]) -> None:
    result = invoke(*command, "--help")
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_db_init_creates_the_archive_the_vicidial_way_and_is_idempotent(cli_env: TestDb) -> None:
    query(cli_env, "DROP TABLE vicidial_list_archive")
    query(cli_env, "DROP TABLE lead_archive_api_keys")
    result = invoke("db", "init")
    assert result.exit_code == 0, result.output
    assert "lead_archive_api_keys, vicidial_list_archive" in result.output
    extra, key = query(
        cli_env,
        "SELECT EXTRA, COLUMN_KEY FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = "
        "DATABASE() AND TABLE_NAME = 'vicidial_list_archive' AND COLUMN_NAME = 'lead_id'",
    )[0]
    assert (extra, key) == ("", "PRI")  # no AUTO_INCREMENT: archived ids are kept as they were
    engine = query(
        cli_env,
        "SELECT ENGINE FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() "
        "AND TABLE_NAME = 'vicidial_list_archive'",
    )[0][0]
    assert engine == cli_env.engine
    again = invoke("db", "init")
    assert again.exit_code == 0, again.output
    assert "nothing to do" in again.output


def test_keys_create_list_revoke(cli_env: TestDb) -> None:
    created = invoke("keys", "create", "--user", "6666")
    assert created.exit_code == 0, created.output
    key = created.output.strip().splitlines()[-1]
    stored = query(cli_env, "SELECT key_id, key_hash FROM lead_archive_api_keys")
    assert stored[0][1] == hashlib.sha256(key.encode()).hexdigest()
    listed = invoke("keys", "list")
    assert "6666" in listed.output and key not in listed.output
    revoked = invoke("keys", "revoke", str(stored[0][0]))
    assert revoked.exit_code == 0, revoked.output
    assert query(cli_env, "SELECT revoked_at IS NOT NULL FROM lead_archive_api_keys") == [(1,)]
    again = invoke("keys", "revoke", str(stored[0][0]))
    assert again.exit_code == 1
    assert "no live key" in again.output


def test_keys_revoke_by_user(cli_env: TestDb) -> None:
    for _ in range(2):
        invoke("keys", "create", "--user", "ops")
    result = invoke("keys", "revoke", "--user", "ops")
    assert result.exit_code == 0, result.output
    assert "revoked 2 key(s)" in result.output


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("LEAD_ARCHIVE_OFFICE_HOURS", "weekdays 9-5", "LEAD_ARCHIVE_OFFICE_HOURS"),
        ("LEAD_ARCHIVE_TIMEZONE", "Nowhere/City", "unknown timezone"),
        ("LEAD_ARCHIVE_DATABASE_URL", "http://x", "LEAD_ARCHIVE_DATABASE_URL"),
    ],
)
def test_bad_settings_stop_with_one_line(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, says: str
) -> None:
    monkeypatch.setenv(name, value)
    result = invoke("keys", "list")
    assert result.exit_code == 2
    assert says in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_unreachable_database_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEAD_ARCHIVE_DATABASE_URL", "mysql://root:secret@127.0.0.1:1/asterisk")
    result = invoke("db", "init")
    assert result.exit_code == 1
    assert "cannot connect to mysql://root:***@127.0.0.1:1/asterisk" in result.output
    assert "secret" not in result.output and "Traceback" not in result.output


def test_the_commands_that_do_not_serve_start_without_the_serving_half() -> None:
    """`lead-archive archive` (and keys, db, verify) leave FastAPI, uvicorn, the shim and the
    REST client's httpx out."""
    probe = (
        "import sys, lead_archive_server.cli.commands; "
        "print(sorted(m for m in ('fastapi', 'uvicorn', 'lead_archive_rest_shim', 'httpx') "
        "if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert loaded.strip() == "[]"
