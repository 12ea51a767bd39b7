"""The bulk options, declared once and parsed once: every cut-off is an option of both
commands, and every check of which leads a run takes (the nightly job's, --ids-from's, "say
which leads") knows every cut-off, without a list of them to keep up to date."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest
from lead_archive_server.bulk.errors import JobError
from lead_archive_server.bulk.job import Job
from lead_archive_server.bulk.options import CommandLine, parse_options
from lead_archive_server.bulk.selection import Selection
from lead_archive_server.cli.commands import app
from lead_archive_server.core import sql
from lead_archive_server.runtime.settings import Settings
from typer.testing import CliRunner

# A value for every cut-off option: a new cut-off needs one here (the first test says so).
ONE_OF_EACH = {
    "list_id": ["1001"],
    "campaign": ["CAMPA"],
    "status": ["NEW"],
    "called_before": "2024-01-01",
    "entered_before": "yesterday",
}
EVERY_CUT_OFF = CommandLine(**ONE_OF_EACH)


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.delenv("LEAD_ARCHIVE_CONFIG", raising=False)
    return Settings(
        database_url="mysql://root@127.0.0.1:3306/unused",
        api_key="a-key",
        nightly_list_id="1001",
        nightly_called_before_days=30,
    )


def refusal(line: CommandLine, settings: Settings) -> str:
    with pytest.raises(JobError) as refused:
        parse_options(line, sql.ARCHIVING, settings)
    return str(refused.value)


def test_the_values_above_set_every_cut_off() -> None:
    assert EVERY_CUT_OFF.selection(date.today()).given == Selection.options()


@pytest.mark.parametrize("command", ["archive", "restore"])
def test_every_cut_off_is_an_option_of_both_commands(command: str) -> None:
    shown = CliRunner().invoke(app, [command, "--help"])
    assert shown.exit_code == 0, shown.output
    for option in Selection.options():
        assert f"  {option} " in shown.output, option


def test_the_nightly_job_refuses_every_selection_option_by_name(settings: Settings) -> None:
    line = replace(EVERY_CUT_OFF, all_leads=True, ids_from="ids.txt", from_settings=True)
    assert refusal(line, settings) == (
        "--from-settings takes the selection from the settings: leave out --list-id, "
        "--campaign, --status, --called-before, --entered-before, --all, --ids-from"
    )


@pytest.mark.parametrize(("name", "value"), ONE_OF_EACH.items())
def test_the_nightly_job_refuses_each_cut_off(
    settings: Settings, name: str, value: list[str] | str
) -> None:
    line = replace(CommandLine(from_settings=True), **{name: value})
    option = "--" + name.replace("_", "-")
    assert refusal(line, settings).endswith(f"leave out {option}")


def test_ids_from_refuses_every_other_way_of_selecting_in_one_wording(settings: Settings) -> None:
    wording = (
        "--ids-from selects the leads itself: leave out --list-id, --campaign, --status, "
        "--called-before, --entered-before"
    )
    # Refused before the file is read: it does not exist.
    line = replace(EVERY_CUT_OFF, ids_from="/nonexistent/ids.txt")
    assert refusal(line, settings) == wording
    assert refusal(replace(line, all_leads=True), settings) == wording + ", --all"
    with pytest.raises(JobError) as refused:
        Job(selection=EVERY_CUT_OFF.selection(date.today()), lead_ids=[1])
    assert str(refused.value) == wording


@pytest.mark.parametrize("line", [CommandLine(), replace(EVERY_CUT_OFF, all_leads=True)])
def test_say_which_leads_names_every_cut_off(settings: Settings, line: CommandLine) -> None:
    assert refusal(line, settings) == (
        "say which leads: --list-id, --campaign, --status, --called-before, --entered-before "
        "(combined), --ids-from, or --all (and --all alone)"
    )


def test_the_nightly_job_selects_and_paces_as_the_settings_say(settings: Settings) -> None:
    paced = settings.model_copy(update={"nightly_sleep_s": 2.0, "nightly_optimize": True})
    line = CommandLine(from_settings=True, dry_run=True)
    job = parse_options(line, sql.ARCHIVING, paced).job
    month_ago = date.today() - timedelta(days=30)
    assert job.selection == Selection(list_ids=(1001,), called_before=month_ago)
    assert (job.sleep_s, job.optimize) == (2.0, True)
    assert parse_options(replace(line, sleep=0.5), sql.ARCHIVING, paced).job.sleep_s == 0.5


@pytest.mark.parametrize(("batch_locks", "in_flight"), [("database", 4), ("ranges", 8)])
def test_batches_in_flight_follow_the_lock_setting_unless_given(
    settings: Settings, batch_locks: str, in_flight: int
) -> None:
    locked = settings.model_copy(update={"batch_locks": batch_locks})
    line = CommandLine(list_id="1001", dry_run=True)
    assert parse_options(line, sql.ARCHIVING, locked).job.concurrency == in_flight
    given = replace(line, concurrency=2)
    assert parse_options(given, sql.ARCHIVING, locked).job.concurrency == 2
    assert "--concurrency must be 1 to 32" in refusal(replace(line, concurrency=0), locked)


@pytest.mark.parametrize("option", ["--no-delete", "--from-settings"])
def test_restore_offers_neither_no_delete_nor_the_nightly_job(option: str) -> None:
    assert option not in CliRunner().invoke(app, ["restore", "--help"]).output
    refused = CliRunner().invoke(app, ["restore", option])
    assert refused.exit_code == 2
    assert f"No such option: {option}" in refused.output
