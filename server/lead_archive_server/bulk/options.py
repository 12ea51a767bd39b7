"""The options of `lead-archive archive` and `restore`, declared once and parsed once.

``CommandLine`` declares every option both commands share, one field an option, as typer
reads them (the commands in `cli` are generated from it); ``parse_options`` checks them, with
the settings, into one frozen ``BulkOptions``. The nightly job is `archive --from-settings`:
the same command line with the selection and pacing of the settings' nightly_* keys.

A new selection option is declared here (its typer option, its field of ``CommandLine`` and
its line in ``CommandLine.selection``) besides its cut-off in ``selection.Selection``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated

import grpc
import typer

from lead_archive_server.bulk.errors import JobError
from lead_archive_server.bulk.job import IN_FLIGHT, Job
from lead_archive_server.bulk.selection import Selection, refuse_beside_listed_ids
from lead_archive_server.bulk.values import (
    LeadIdList,
    ascii_number,
    parse_day,
    read_lead_ids,
    split_values,
)
from lead_archive_server.core import sql
from lead_archive_server.core.database_url import DatabaseUrl, DatabaseUrlError
from lead_archive_server.runtime.settings import (
    BulkClientSettings,
    NightlySettings,
    Settings,
    env_name,
)
from lead_archive_server.runtime.tls import local_roots

# `restore` always deletes its archived copies and has no nightly job.
RESTORE_LEAVES_OUT = ("no_delete", "from_settings")


ListIdOption = Annotated[
    list[str] | None,
    typer.Option("--list-id", metavar="ID", help="Leads of this list; repeat or use commas."),
]
CampaignOption = Annotated[
    list[str] | None,
    typer.Option(
        metavar="ID",
        help="Leads of every list of this campaign (vicidial_lists); repeat or use commas. "
        "---ALL--- takes every list in vicidial_lists, as ADMIN_archive_leads.pl does.",
    ),
]
StatusOption = Annotated[
    list[str] | None,
    typer.Option(metavar="STATUS", help="Leads with this status; repeat or use commas."),
]
CalledBeforeOption = Annotated[
    str | None,
    typer.Option(
        metavar="DATE", help="Leads last called before this day (YYYY-MM-DD, today or yesterday)."
    ),
]
EnteredBeforeOption = Annotated[
    str | None,
    typer.Option(metavar="DATE", help="Leads entered before this day (entry_date)."),
]
AllOption = Annotated[bool, typer.Option("--all", help="Every lead of the table, no cut-off.")]
IdsFromOption = Annotated[
    str | None,
    typer.Option(metavar="FILE", help="Read the lead IDs from FILE (- for stdin) instead."),
]
DryRunOption = Annotated[
    bool, typer.Option("--dry-run", help="Say what would move; change nothing.")
]
ConcurrencyOption = Annotated[
    int | None,
    typer.Option(
        metavar="N",
        help=(
            f"Batches in flight at once (default {IN_FLIGHT['database']}; "
            f"{IN_FLIGHT['ranges']} when {env_name('batch_locks')} is ranges)."
        ),
    ),
]
BatchSizeOption = Annotated[int, typer.Option(metavar="N", help="Leads per batch, at most 500.")]
TargetOption = Annotated[
    str | None,
    typer.Option(
        metavar="HOST:PORT",
        help=f"The gRPC server (default: {env_name('target')}, else 127.0.0.1 and "
        f"{env_name('grpc_port')}).",
    ),
]
ApiKeyOption = Annotated[
    str | None,
    typer.Option(
        metavar="KEY",
        help=f"The API key (default: {env_name('api_key')}). Other users of this machine "
        "can read it in `ps`: prefer --api-key-file or the variable.",
    ),
]
ApiKeyFileOption = Annotated[
    Path | None,
    typer.Option(
        metavar="FILE",
        help="Read the API key from the first line of FILE; unlike --api-key it does not "
        "show in `ps`.",
    ),
]
TlsOption = Annotated[
    bool,
    typer.Option(
        "--tls",
        help="Reach the server over TLS (on by default for this machine's gRPC port "
        "when the settings give it a certificate).",
    ),
]
CaCertOption = Annotated[
    Path | None, typer.Option(metavar="FILE", help="Trust this CA for TLS (implies --tls).")
]
TimeoutOption = Annotated[
    float, typer.Option(metavar="SECONDS", help="Seconds one batch may take.")
]
RetryForOption = Annotated[
    float,
    typer.Option(metavar="SECONDS", help="Seconds to keep retrying an unreachable server."),
]
SleepOption = Annotated[
    float | None,
    typer.Option(metavar="SECONDS", help="Sleep this long between batches (as pt-archiver)."),
]
MaxReplicaLagOption = Annotated[
    float | None,
    typer.Option(
        metavar="SECONDS",
        help="Start no batch while the --replica is further behind (Seconds_Behind_Master), "
        "as pt-archiver's --max-lag; a stopped replica counts as too far behind.",
    ),
]
ReplicaOption = Annotated[
    str | None,
    typer.Option(
        metavar="URL",
        help="The replica to watch, mysql://user:pass@host:port/ (default: "
        f"{env_name('replica_url')}).",
    ),
]
OptimizeOption = Annotated[
    bool,
    typer.Option(
        "--optimize",
        help="OPTIMIZE TABLE the source table at the end (on MyISAM this locks the table "
        "while it runs).",
    ),
]
QuietOption = Annotated[
    bool,
    typer.Option("--quiet", "-q", help="For cron: print nothing unless something was not done."),
]
FromSettingsOption = Annotated[
    bool,
    typer.Option(
        "--from-settings",
        help="Select and pace as the settings' nightly_* keys say (what the nightly timer "
        "runs); other selection options are refused.",
    ),
]


@dataclass(frozen=True)
class CommandLine:
    """The options of `archive` and `restore` as given, before any check; `restore` has all
    but ``RESTORE_LEAVES_OUT``."""

    list_id: ListIdOption = None
    campaign: CampaignOption = None
    status: StatusOption = None
    called_before: CalledBeforeOption = None
    entered_before: EnteredBeforeOption = None
    all_leads: AllOption = False
    ids_from: IdsFromOption = None
    dry_run: DryRunOption = False
    no_delete: Annotated[
        bool, typer.Option("--no-delete", help="Copy into the archive; delete nothing.")
    ] = False
    concurrency: ConcurrencyOption = None
    batch_size: BatchSizeOption = 500
    sleep: SleepOption = None
    max_replica_lag: MaxReplicaLagOption = None
    replica: ReplicaOption = None
    optimize: OptimizeOption = False
    quiet: QuietOption = False
    from_settings: FromSettingsOption = False
    target: TargetOption = None
    api_key: ApiKeyOption = None
    api_key_file: ApiKeyFileOption = None
    tls: TlsOption = False
    ca_cert: CaCertOption = None
    timeout: TimeoutOption = 60.0
    retry_for: RetryForOption = 120.0

    def selection(self, today: date) -> Selection:
        """The cut-offs given (JobError for a value that is not one)."""
        return Selection(
            list_ids=_list_ids(self.list_id or []),
            campaigns=split_values(self.campaign or []),
            statuses=split_values(self.status or []),
            called_before=_day(self.called_before, today),
            entered_before=_day(self.entered_before, today),
        )

    def which_leads(self, selection: Selection) -> list[str]:
        """The options given that say which leads, --ids-from aside, in order."""
        return selection.given + (["--all"] if self.all_leads else [])


@dataclass(frozen=True)
class Replica:
    """--replica URL and --max-replica-lag SECONDS."""

    url: DatabaseUrl
    max_lag_s: float


@dataclass(frozen=True)
class Connection:
    """How `archive` reaches the API."""

    target: str
    api_key: str
    tls: bool | grpc.ChannelCredentials = False
    tls_server_name: str | None = None
    timeout: float = 60.0
    retry_for: float = 120.0

    def __post_init__(self) -> None:
        if not self.timeout > 0:
            raise JobError("--timeout must be more than 0 seconds")
        if not self.retry_for >= 0:
            raise JobError("--retry-for must be 0 seconds or more")


@dataclass(frozen=True)
class BulkOptions:
    """Everything one run of `archive` or `restore` was told, checked."""

    job: Job
    connection: Connection
    replica: Replica | None = None
    quiet: bool = False
    repeated_ids: int = 0  # dropped from the --ids-from list, which takes each lead once


def parse_options(line: CommandLine, flow: sql.Flow, settings: Settings) -> BulkOptions:
    """The options of one run, or JobError saying what is wrong with them, in one line."""
    today = date.today()
    selection = line.selection(today)
    if line.from_settings:
        line, selection = _nightly(line, selection, settings.nightly, today)
    elif line.ids_from is not None:
        refuse_beside_listed_ids(line.which_leads(selection))  # before stdin is read
    elif line.all_leads != selection.is_empty:
        raise JobError(
            f"say which leads: {', '.join(Selection.options())} (combined), --ids-from, "
            "or --all (and --all alone)"
        )
    listed = None if line.ids_from is None else _read_ids(line.ids_from)
    job = Job(
        selection=selection,
        lead_ids=None if listed is None else listed.lead_ids,
        delete=not line.no_delete,
        dry_run=line.dry_run,
        batch_size=line.batch_size,
        concurrency=(
            IN_FLIGHT[settings.batch_locks] if line.concurrency is None else line.concurrency
        ),
        flow=flow,
        sleep_s=line.sleep or 0.0,
        optimize=line.optimize,
    )
    replica = _replica(line, settings.bulk_client)
    connection = _connection(line, settings.bulk_client)
    if not job.dry_run and not connection.api_key:
        raise JobError(f"no API key: give --api-key or set {env_name('api_key')}")
    repeats = 0 if listed is None else listed.repeats
    return BulkOptions(job, connection, replica, quiet=line.quiet, repeated_ids=repeats)


def _nightly(
    line: CommandLine, given: Selection, nightly: NightlySettings, today: date
) -> tuple[CommandLine, Selection]:
    """The command line of the nightly job, and its selection, from the nightly_* keys."""
    named = line.which_leads(given) + (["--ids-from"] if line.ids_from is not None else [])
    if named:
        raise JobError(
            "--from-settings takes the selection from the settings: leave out " + ", ".join(named)
        )

    def days_ago(days: int) -> str | None:
        return (today - timedelta(days=days)).isoformat() if days else None

    job_line = replace(
        line,
        list_id=[nightly.list_id],
        campaign=[nightly.campaign],
        status=[nightly.status],
        called_before=days_ago(nightly.called_before_days),
        entered_before=days_ago(nightly.entered_before_days),
        sleep=_given_or(line.sleep, nightly.sleep_s),
        max_replica_lag=_given_or(line.max_replica_lag, nightly.max_replica_lag_s),
        optimize=line.optimize or nightly.optimize,
    )
    selection = job_line.selection(today)
    if selection.is_empty:
        *first, last = NightlySettings.SELECTION_KEYS
        raise JobError(
            f"--from-settings: the settings select no leads: set {', '.join(first)} or {last}"
        )
    return job_line, selection


def _given_or(given: float | None, setting: float) -> float | None:
    """The option when given, else the setting (0 meaning none)."""
    return given if given is not None else setting or None


def _list_ids(values: list[str]) -> tuple[int, ...]:
    ids = []
    for value in split_values(values):
        list_id = ascii_number(value)
        if list_id is None:
            raise JobError(f"--list-id {value!r} is not a list ID")
        ids.append(list_id)
    return tuple(ids)


def _day(text: str | None, today: date) -> date | None:
    return None if text is None else parse_day(text, today=today)


def _read_ids(path: str) -> LeadIdList:
    if path == "-":
        return read_lead_ids(sys.stdin, source="stdin")
    try:
        with open(path, encoding="utf-8", errors="replace") as lines:
            return read_lead_ids(lines, source=path)
    except OSError as error:
        raise JobError(f"--ids-from {path}: {error.strerror or error}") from None


def _replica(line: CommandLine, client: BulkClientSettings) -> Replica | None:
    """--replica and --max-replica-lag, which only make sense together."""
    lag = line.max_replica_lag
    if lag is None:
        if line.replica:
            raise JobError("--replica needs --max-replica-lag SECONDS")
        return None
    if not lag >= 0:
        raise JobError("--max-replica-lag must be 0 seconds or more")
    if line.replica:
        try:
            return Replica(DatabaseUrl.parse(line.replica), lag)
        except DatabaseUrlError:
            raise JobError("--replica must look like mysql://user:pass@host:port/") from None
    if client.replica is None:
        raise JobError(f"--max-replica-lag needs --replica URL (or {env_name('replica_url')})")
    return Replica(client.replica, lag)


def _connection(line: CommandLine, client: BulkClientSettings) -> Connection:
    """Options first, then settings; TLS as `serve`'s own shim uses it for the local port.

    With no --target and no target in the settings, the command calls this machine's gRPC
    port, over TLS when the settings give that port a certificate, trusting the upstream CA
    bundle of the settings, else that certificate and the system's CAs.
    """
    api_key = _api_key(line) or client.api_key
    credentials: bool | grpc.ChannelCredentials = line.tls
    if line.ca_cert is not None:
        credentials = grpc.ssl_channel_credentials(root_certificates=_ca_cert(line.ca_cert))
    elif not line.tls and line.target is None and client.own_port and client.grpc_tls:
        roots = local_roots(client.upstream_ca, client.grpc_tls[0])
        credentials = grpc.ssl_channel_credentials(root_certificates=roots)
    return Connection(
        target=line.target or client.target,
        api_key=api_key,
        tls=credentials,
        tls_server_name=client.upstream_server_name or None,
        timeout=line.timeout,
        retry_for=line.retry_for,
    )


def _ca_cert(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise JobError(f"--ca-cert {path}: {error.strerror or error}") from None


def _api_key(line: CommandLine) -> str | None:
    """The key from --api-key or --api-key-file (JobError for both, or a bad file)."""
    file = line.api_key_file
    if file is None:
        return line.api_key
    if line.api_key is not None:
        raise JobError("give --api-key or --api-key-file, not both")
    try:
        lines = file.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as error:
        raise JobError(f"--api-key-file {file}: {error.strerror or error}") from None
    key = lines[0].strip() if lines else ""
    if not key:
        raise JobError(f"--api-key-file {file}: the first line holds no key")
    return key
