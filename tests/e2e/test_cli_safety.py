"""The real `lead-archive` console script: settings mistakes are refused with one line naming
their true source, and bad input never ends in a traceback."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.processes import LEAD_ARCHIVE, environment
from tests.support import TestDb


def run(*args: str, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LEAD_ARCHIVE, *args], env=env, input=stdin, capture_output=True, text=True, timeout=60
    )


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


# --- settings ----------------------------------------------------------------------------


def test_a_misspelled_variable_is_refused_with_the_closest_name() -> None:
    result = run("config", "show", env=environment(grpc_prot="50051"))
    assert result.returncode == 2
    assert one_line(result) == (
        "lead-archive: LEAD_ARCHIVE_GRPC_PROT is not a setting; "
        "did you mean LEAD_ARCHIVE_GRPC_PORT?"
    )


def test_a_misspelled_file_key_is_refused_with_the_closest_name(tmp_path: Path) -> None:
    config = tmp_path / "lead-archive.toml"
    config.write_text('office_hour = "none"\n')
    result = run("config", "show", env=environment(config=str(config)))
    assert result.returncode == 2
    assert one_line(result) == (
        f"lead-archive: {config}: 'office_hour' is not a setting; did you mean office_hours?"
    )


def test_a_bad_value_is_reported_under_its_true_source(tmp_path: Path) -> None:
    config = tmp_path / "lead-archive.toml"
    config.write_text('grpc_port = "fifty"\noffice_hours = "mon-fri 8-6"\n')
    from_file = run("config", "show", env=environment(config=str(config)))
    assert one_line(from_file).startswith(f"lead-archive: {config}: grpc_port: ")
    config.write_text('office_hours = "mon-fri 8-6"\n')
    checked = run("config", "show", env=environment(config=str(config)))
    assert one_line(checked).startswith(f"lead-archive: {config}: office_hours")
    from_env = run("config", "show", env=environment(config=str(config), grpc_port="fifty"))
    assert one_line(from_env).startswith("lead-archive: LEAD_ARCHIVE_GRPC_PORT: ")


def test_harness_variables_are_not_settings_and_pass(tmp_path: Path) -> None:
    result = run("config", "show", env=environment(test_database_url="mysql://x@y/z"))
    assert result.returncode == 0, result.stderr


# --- bad input ----------------------------------------------------------------------------


# Written as escapes: superscript two, Arabic-Indic and full-width digits.
@pytest.mark.parametrize("value", ["\u00b2", "\u0661\u0662", "12\u00b2", "\uff11\uff12"])
def test_non_ascii_digits_are_not_list_ids(value: str) -> None:
    result = run("archive", "--dry-run", "--list-id", value, env=environment())
    assert result.returncode == 2
    assert one_line(result) == f"lead-archive: --list-id {value!r} is not a list ID"


@pytest.mark.parametrize("value", ["\u00b2", "\u0661\u0662"])
def test_non_ascii_digits_are_not_lead_ids(value: str) -> None:
    result = run(
        "archive", "--dry-run", "--ids-from", "-", env=environment(), stdin=f"7\n{value}\n"
    )
    assert result.returncode == 2
    assert one_line(result) == f"lead-archive: stdin, line 2: {value!r} is not a lead ID"


def test_keys_revoke_takes_ascii_key_ids_only(tdb: TestDb) -> None:
    result = run("keys", "revoke", "\u0661", env=environment(database_url=tdb.db.url.url()))
    assert result.returncode == 2
    assert "is not a key id" in one_line(result)


@pytest.mark.parametrize(
    "url", ["mysql://root@[::1/asterisk", "mysql://root@host:99999/asterisk", "postgres://x/y"]
)
def test_a_malformed_database_url_is_one_line(url: str) -> None:
    result = run("keys", "list", env=environment(database_url=url))
    assert result.returncode == 2
    assert one_line(result).startswith("lead-archive: LEAD_ARCHIVE_DATABASE_URL")


def test_the_api_key_can_come_from_a_file(tmp_path: Path) -> None:
    help_text = run("archive", "--help", env=environment()).stdout
    assert "--api-key-file" in help_text
    assert "ps" in help_text
    missing = run("archive", "--all", "--api-key-file", str(tmp_path / "nope"), env=environment())
    assert missing.returncode == 2
    assert one_line(missing).startswith(f"lead-archive: --api-key-file {tmp_path / 'nope'}: ")
    key_file = tmp_path / "key"
    key_file.write_text("\n")
    empty = run("archive", "--all", "--api-key-file", str(key_file), env=environment())
    assert "the first line holds no key" in one_line(empty)
    both = run(
        "archive", "--all", "--api-key", "k", "--api-key-file", str(key_file), env=environment()
    )
    assert one_line(both) == "lead-archive: give --api-key or --api-key-file, not both"
