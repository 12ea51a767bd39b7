"""`lead-archive archive` options through typer's CliRunner: wrong input is one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest
from lead_archive_server.cli.commands import app
from typer.testing import CliRunner

from tests.support import TestDb

runner = CliRunner()


def archive(*args: str):
    return runner.invoke(app, ["archive", *args])


def test_help() -> None:
    result = archive("--help")
    assert result.exit_code == 0, result.output
    for option in ("--list-id", "--campaign", "--status", "--called-before", "--ids-from"):
        assert option in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "say which leads"),
        (("--all", "--list-id", "1"), "say which leads"),
        (("--ids-from", "-", "--all"), "--ids-from selects the leads itself"),
        (("--ids-from", "-", "--status", "NEW"), "--ids-from selects the leads itself"),
        (("--list-id", "abc"), "--list-id 'abc' is not a list ID"),
        (("--called-before", "2024-13-01"), "'2024-13-01' is not a date"),
        (("--entered-before", "last week"), "'last week' is not a date"),
        (("--all", "--batch-size", "501"), "--batch-size must be 1 to 500"),
        (("--all", "--concurrency", "0"), "--concurrency must be 1 to 32"),
        (("--ids-from", "/nonexistent/ids.txt"), "--ids-from /nonexistent/ids.txt: No such file"),
        (("--all", "--ca-cert", "/nonexistent/ca.pem"), "--ca-cert /nonexistent/ca.pem"),
        (("--all",), "no API key: give --api-key or set LEAD_ARCHIVE_API_KEY"),
        (("--all", "--timeout", "0"), "--timeout must be more than 0 seconds"),
        (("--all", "--retry-for", "-1"), "--retry-for must be 0 seconds or more"),
    ],
)
def test_wrong_options_say_what_is_wrong_in_one_line(
    archive_env: TestDb, args: tuple[str, ...], message: str
) -> None:
    result = archive(*args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output


def test_bad_line_in_an_id_file_is_named_before_anything_is_sent(
    archive_env: TestDb, tmp_path: Path
) -> None:
    ids = tmp_path / "ids.txt"
    ids.write_text("1\n2\n3 x4\n")
    result = archive("--ids-from", str(ids), "--api-key", "k")
    assert result.exit_code == 2
    assert f"{ids}, line 3: 'x4' is not a lead ID" in result.output


def test_campaign_without_lists(archive_env: TestDb) -> None:
    result = archive("--campaign", "NOPE", "--dry-run")
    assert result.exit_code == 2
    assert "campaign NOPE has no lists in vicidial_lists" in result.output


def test_unreachable_database_ends_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEAD_ARCHIVE_DATABASE_URL", "mysql://root@127.0.0.1:1/asterisk")
    result = archive("--all", "--dry-run")
    assert result.exit_code == 1
    assert "cannot connect to mysql://root@127.0.0.1:1/asterisk" in result.output


def test_config_show_masks_the_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEAD_ARCHIVE_API_KEY", "the-secret-key-0123456789")
    monkeypatch.setenv("LEAD_ARCHIVE_TARGET", "archive.example:50051")
    result = runner.invoke(app, ["config", "show"])
    assert result.exit_code == 0, result.output
    assert "the-secret-key" not in result.output
    assert 'api_key = "***"' in result.output
    assert 'target = "archive.example:50051"' in result.output
