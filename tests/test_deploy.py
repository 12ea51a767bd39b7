"""The deployment files agree with the code: every setting documented, the unit hardened."""

from __future__ import annotations

import configparser
import os
import re
import tomllib
from pathlib import Path

import pytest
from lead_archive_server.runtime.settings import Settings, load_settings

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


def test_the_readme_names_every_setting() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [
        name for name in Settings.model_fields if f"LEAD_ARCHIVE_{name.upper()}" not in readme
    ]
    assert missing == []


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
