"""`lead-archive restore` and the bulk parity options through typer's CliRunner: wrong input
is one clear line, for both commands."""

from __future__ import annotations

from pathlib import Path

import pytest
from lead_archive_server.cli.commands import app
from typer.testing import CliRunner

from tests.support import TestDb

runner = CliRunner()
BOTH = pytest.mark.parametrize("command", ["archive", "restore"])


def test_restore_help_names_the_selection_and_parity_options() -> None:
    result = runner.invoke(app, ["restore", "--help"])
    assert result.exit_code == 0, result.output
    for option in (
        "--list-id",
        "--campaign",
        "---ALL---",
        "--status",
        "--called-before",
        "--entered-before",
        "--ids-from",
        "--all",
        "--dry-run",
        "--sleep",
        "--max-replica-lag",
        "--replica",
        "--optimize",
        "--quiet",
    ):
        assert option in result.output, option
    assert "--no-delete" not in result.output  # a restore always deletes its archived copies


@BOTH
@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "say which leads"),
        (("--all", "--sleep", "-1"), "--sleep must be 0 to 3600 seconds"),
        (("--all", "--replica", "mysql://r@h/"), "--replica needs --max-replica-lag SECONDS"),
        (("--all", "--max-replica-lag", "5"), "--max-replica-lag needs --replica URL"),
        (
            ("--all", "--max-replica-lag", "5", "--replica", "http://h/"),
            "--replica must look like mysql://user:pass@host:port/",
        ),
        (("--all", "--max-replica-lag", "-1", "--replica", "mysql://r@h/"), "0 seconds or more"),
        (
            ("--campaign", "---ALL---", "--campaign", "TEST1"),
            "--campaign ---ALL--- takes every list: name no other campaign",
        ),
    ],
)
def test_wrong_options_say_what_is_wrong_in_one_line(
    archive_env: TestDb,
    command: str,
    args: tuple[str, ...],
    message: str,
) -> None:
    result = runner.invoke(app, [command, *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output


def nightly_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, toml: str) -> None:
    """A settings file with the nightly job's keys, in effect for the commands run next."""
    config = tmp_path / "lead-archive.toml"
    config.write_text(toml)
    monkeypatch.setenv("LEAD_ARCHIVE_CONFIG", str(config))


def test_from_settings_needs_a_selection_in_the_settings(
    archive_env: TestDb,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    nightly_settings(monkeypatch, tmp_path, "nightly_sleep_s = 1.0\n")
    result = runner.invoke(app, ["archive", "--from-settings"])
    assert result.exit_code == 2
    assert "--from-settings: the settings select no leads" in result.output


def test_from_settings_dry_run_selects_what_the_settings_say(
    archive_env: TestDb,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    nightly_settings(
        monkeypatch, tmp_path, 'nightly_list_id = "1001"\nnightly_called_before_days = 30\n'
    )
    result = runner.invoke(app, ["archive", "--from-settings", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "Selected 0 leads: list 1001, last called before" in result.output


def test_restore_against_an_empty_archive_has_nothing_to_do(
    archive_env: TestDb,
) -> None:
    result = runner.invoke(app, ["restore", "--all", "--api-key", "k"])
    assert result.exit_code == 0, result.output
    assert "Selected 0 leads: every lead in vicidial_list_archive." in result.output
    assert "Nothing to restore." in result.output


def test_config_show_masks_the_replica_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEAD_ARCHIVE_REPLICA_URL", "mysql://monitor:s3cret@replica.example:3306/")
    result = runner.invoke(app, ["config", "show"])
    assert result.exit_code == 0, result.output
    assert "s3cret" not in result.output
    assert 'replica_url = "mysql://monitor:***@replica.example:3306/"' in result.output
