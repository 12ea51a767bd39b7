"""The deployment files agree with the code: every setting documented, the unit hardened."""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from lead_archive_server.runtime.settings import (
    CONFIG_FILE_ENV,
    HARNESS_PREFIXES,
    Settings,
    load_settings,
)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "deploy" / "lead-archive.toml.example"
UNIT = ROOT / "deploy" / "lead-archive.service"


def uncommented(text: str) -> str:
    """The example with every `# name = value` line switched on."""
    return re.sub(r"^# ([a-z_]+ = )", r"\1", text, flags=re.MULTILINE)


def test_the_example_documents_every_setting_with_a_valid_value() -> None:
    every = tomllib.loads(uncommented(EXAMPLE.read_text()))
    assert set(every) == set(Settings.model_fields)


def test_the_example_loads_as_it_is(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("LEAD_ARCHIVE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("LEAD_ARCHIVE_CONFIG", str(EXAMPLE))
    monkeypatch.setenv("LEAD_ARCHIVE_ASTGUICLIENT_CONF", str(tmp_path / "absent.conf"))
    settings = load_settings()
    assert settings.log_format == "json"
    assert settings.audit is True


SETTINGS_DOC = ROOT / "docs" / "operations.md"
USER_DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def settings_table() -> str:
    """The rows of the settings table: the `## Settings` section of docs/operations.md."""
    section = SETTINGS_DOC.read_text().split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    return "\n".join(line for line in section.splitlines() if line.startswith("| `LEAD_ARCHIVE_"))


def test_the_settings_table_names_every_setting() -> None:
    table = settings_table()
    missing = [
        name for name in Settings.model_fields if f"`LEAD_ARCHIVE_{name.upper()}`" not in table
    ]
    assert missing == []
    assert f"`{CONFIG_FILE_ENV}`" in table


def test_the_user_documents_name_no_setting_that_does_not_exist() -> None:
    known = {f"LEAD_ARCHIVE_{name.upper()}" for name in Settings.model_fields} | {CONFIG_FILE_ENV}
    unknown = []
    for document in USER_DOCS:
        for name, wildcard in re.findall(r"(LEAD_ARCHIVE_[A-Z0-9_]*)(\*?)", document.read_text()):
            if name.startswith(HARNESS_PREFIXES):
                continue  # the test harness's own variables, not settings
            # `LEAD_ARCHIVE_HTTP_*` names a group: some setting must start with it.
            named = any(s.startswith(name) for s in known) if wildcard else name in known
            if not named:
                unknown.append(f"{document.relative_to(ROOT)}: {name}{wildcard}")
    assert unknown == []


def test_the_systemd_unit_runs_serve_as_its_own_user_hardened() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string(UNIT.read_text())
    service = unit["Service"]
    assert service["ExecStart"].endswith("/lead-archive serve")
    assert service["User"] == "lead-archive"
    assert service["EnvironmentFile"] == "-/etc/lead-archive/lead-archive.env"
    assert service["Environment"] == "LEAD_ARCHIVE_CONFIG=/etc/lead-archive/lead-archive.toml"
    assert service["Restart"] == "on-failure"
    assert service["KillSignal"] == "SIGTERM"
    for setting, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "CapabilityBoundingSet": "",
    }.items():
        assert service[setting] == value, setting
    # systemd must wait longer than the service lets batches in flight finish.
    assert int(service["TimeoutStopSec"]) > Settings.model_fields["shutdown_grace_s"].default
    assert unit["Install"]["WantedBy"] == "multi-user.target"


NIGHTLY_SERVICE = ROOT / "deploy" / "lead-archive-nightly.service"
NIGHTLY_TIMER = ROOT / "deploy" / "lead-archive-nightly.timer"


def read_unit(path: Path) -> configparser.ConfigParser:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string(path.read_text())
    return unit


def test_the_nightly_service_archives_from_the_settings_and_takes_exit_3_as_success() -> None:
    service = read_unit(NIGHTLY_SERVICE)["Service"]
    assert service["Type"] == "oneshot"
    assert service["ExecStart"] == (
        "/opt/lead-archive/bin/lead-archive archive --from-settings --quiet"
    )
    assert service["SuccessExitStatus"] == "3"  # office hours: stopped cleanly, resumes tomorrow
    assert service["User"] == "lead-archive"
    assert service["Environment"] == "LEAD_ARCHIVE_CONFIG=/etc/lead-archive/lead-archive.toml"
    # Its own environment file, required (it holds the job's key and nothing of the service's).
    assert service["EnvironmentFile"] == "/etc/lead-archive/lead-archive-nightly.env"
    assert service["KillSignal"] == "SIGTERM"
    main = read_unit(UNIT)["Service"]
    for setting in ("NoNewPrivileges", "ProtectSystem", "ProtectHome", "CapabilityBoundingSet"):
        assert service[setting] == main[setting], setting


def test_the_timer_starts_the_nightly_service_every_night() -> None:
    timer = read_unit(NIGHTLY_TIMER)
    assert timer["Timer"]["OnCalendar"] == "*-*-* 01:30:00"
    assert timer["Timer"]["Persistent"] == "true"
    assert timer["Install"]["WantedBy"] == "timers.target"
    # The timer starts the service of the same name.
    assert NIGHTLY_SERVICE.stem == NIGHTLY_TIMER.stem


def test_the_nightly_job_uses_settings_the_example_documents() -> None:
    every = tomllib.loads(uncommented(EXAMPLE.read_text()))
    nightly = {name for name in Settings.model_fields if name.startswith("nightly_")}
    assert nightly <= set(every)
    assert "replica_url" in every


def _verify(tmp_path: Path, units: list[Path]) -> subprocess.CompletedProcess[str]:
    """systemd-analyze verify the units, with ExecStart pointing at a stub that exists."""
    stub = tmp_path / "lead-archive"
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    copies = []
    for unit in units:
        copy = tmp_path / unit.name
        copy.write_text(unit.read_text().replace("/opt/lead-archive/bin/lead-archive", str(stub)))
        copies.append(str(copy))
    return subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *copies],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="no systemd-analyze here")
def test_the_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    done = _verify(tmp_path, [NIGHTLY_TIMER, NIGHTLY_SERVICE, UNIT])
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == ""
    # The check can fail: a timer with a calendar systemd cannot read is refused.
    broken = tmp_path / "broken"
    broken.mkdir()
    bad = broken / NIGHTLY_TIMER.name
    bad.write_text(NIGHTLY_TIMER.read_text().replace("*-*-* 01:30:00", "nightly at half past one"))
    done = _verify(broken, [bad, NIGHTLY_SERVICE])
    assert done.returncode != 0 and "calendar" in done.stderr


def test_the_units_bound_files_memory_and_tasks_and_say_why() -> None:
    for path in (UNIT, NIGHTLY_SERVICE):
        service = read_unit(path)["Service"]
        assert int(service["LimitNOFILE"]) > 1024, path  # systemd's default soft limit
        assert re.fullmatch(r"\d+[MG]", service["MemoryMax"]), path
        assert int(service["TasksMax"]) > 0, path
        lines = path.read_text().splitlines()
        bounds = ("LimitNOFILE=", "MemoryMax=", "TasksMax=")
        for setting in bounds:  # each explained by the comment above it (or above the three)
            at = next(n for n, line in enumerate(lines) if line.startswith(setting))
            above = [line for line in lines[:at] if not line.startswith(bounds)]
            assert above[-1].startswith("#"), (path, setting)


def test_the_service_and_the_nightly_job_read_separate_environment_files() -> None:
    service = read_unit(UNIT)["Service"]["EnvironmentFile"].lstrip("-")
    nightly = read_unit(NIGHTLY_SERVICE)["Service"]["EnvironmentFile"].lstrip("-")
    assert service != nightly


def test_the_documented_commands_create_each_environment_file_0600(tmp_path: Path) -> None:
    # The nightly job's steps are in the README, the service's in docs/operations.md.
    readme = (ROOT / "README.md").read_text() + (ROOT / "docs" / "operations.md").read_text()
    commands = re.findall(r"^install -m 0600 /dev/null (/etc/lead-archive/\S+\.env)", readme, re.M)
    service = read_unit(UNIT)["Service"]["EnvironmentFile"].lstrip("-")
    nightly = read_unit(NIGHTLY_SERVICE)["Service"]["EnvironmentFile"].lstrip("-")
    assert set(commands) == {service, nightly}
    assert "lead-archive.env   # mode 0600" not in readme  # no more `echo >>` into a new file
    for target in commands:  # run as documented, under the most permissive umask
        path = tmp_path / Path(target).name
        done = subprocess.run(
            ["sh", "-c", f"umask 000 && install -m 0600 /dev/null {path} && echo X=1 >> {path}"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        assert done.returncode == 0, done.stderr
        assert path.stat().st_mode & 0o777 == 0o600, target
