"""The `lead-archive` command: run the service, set up tables, manage keys, run a demo."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from lead_archive_server.access import keys
from lead_archive_server.cli import bulk, config_show
from lead_archive_server.cli.bulk_console import Connection, Screens, run_archive
from lead_archive_server.cli.demo import DEMO_DATABASE, DEMO_LIST_ID, Demo, seed_demo
from lead_archive_server.cli.verify import DEFAULT_LIMIT, VerifyReport, verify
from lead_archive_server.core.db import Database
from lead_archive_server.core.errors import ArchiveError
from lead_archive_server.core.tables import init_tables
from lead_archive_server.runtime import logs
from lead_archive_server.runtime.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    # The serving half (FastAPI, uvicorn, the gRPC server) is imported by the commands that
    # serve, inside them: `lead-archive archive` and the others start ~0.5 s sooner without it.
    from lead_archive_server.cli import serve as run

T = TypeVar("T")

app = typer.Typer(
    help="Move old Vicidial leads from vicidial_list to vicidial_list_archive, losing none.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Create the tables the service needs.", no_args_is_help=True)
keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
config_app = typer.Typer(help="Show the settings in effect.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(config_app, name="config")

err = Console(stderr=True)
out = Console()


def main() -> None:
    """Entry point of the console script."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    app()


def fail(message: str, code: int = 1) -> NoReturn:
    """Stop with one clear line, never a traceback."""
    typer.echo(f"lead-archive: {message}", err=True)
    raise typer.Exit(code)


def settings_or_exit(**overrides: Any) -> Settings:
    """Read the settings, or stop with the one line that says which is wrong."""
    try:
        settings = load_settings(**overrides)
    except SettingsError as error:
        fail(str(error), 2)
    logs.configure(settings.log_format, settings.log_level)
    return settings


def run_or_exit(coroutine: Coroutine[Any, Any, T], *, event_loop: str = "asyncio") -> T:
    """Run a coroutine; service errors (database down, …) end in one line."""
    try:
        with asyncio.Runner(loop_factory=loop_factory(event_loop)) as runner:
            return runner.run(coroutine)
    except ArchiveError as error:
        fail(error.message)
    except (LookupError, ValueError) as error:
        fail(str(error))


def loop_factory(event_loop: str) -> Callable[[], asyncio.AbstractEventLoop]:
    """uvloop for the servers when it is installed (the `fast` extra): less time per request."""
    if event_loop in ("auto", "uvloop"):
        try:
            import uvloop
        except ImportError:
            if event_loop == "uvloop":
                fail("LEAD_ARCHIVE_EVENT_LOOP=uvloop, but uvloop is not installed", 2)
        else:
            return uvloop.new_event_loop
    return asyncio.new_event_loop


async def _with_db(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    db = await Database.connect(settings.database, pool_size=2)
    try:
        return await work(db)
    finally:
        await db.close()


@app.command()
def serve() -> None:
    """Serve gRPC and the REST shim in one process."""
    from lead_archive_server.cli import serve as run

    settings = settings_or_exit()
    run_or_exit(run.run(settings, on_ready=_announce(settings)), event_loop=settings.event_loop)


@app.command("grpc")
def grpc_only() -> None:
    """Serve gRPC only."""
    from lead_archive_server.cli import serve as run

    settings = settings_or_exit()
    run_or_exit(
        run.run_grpc(settings, on_ready=_announce(settings)), event_loop=settings.event_loop
    )


@app.command()
def rest(
    upstream: Annotated[str, typer.Option(help="The gRPC server, HOST:PORT.")],
    upstream_tls: Annotated[
        bool,
        typer.Option(
            help="Reach the gRPC server over TLS (CA: LEAD_ARCHIVE_UPSTREAM_CA, else the "
            "system's; name: LEAD_ARCHIVE_UPSTREAM_SERVER_NAME, else HOST)."
        ),
    ] = False,
) -> None:
    """Serve the REST shim only, in front of a gRPC server elsewhere."""
    from lead_archive_server.cli import serve as run

    settings = settings_or_exit()
    run_or_exit(
        run.run_rest(settings, upstream, upstream_tls=upstream_tls), event_loop=settings.event_loop
    )


@config_app.command("show")
def config_show_command() -> None:
    """Print the effective settings as TOML; the database password is masked."""
    print(config_show.render(settings_or_exit()))


@db_app.command("init")
def db_init() -> None:
    """Create the API key table and vicidial_list_archive where missing; safe to run twice."""
    settings = settings_or_exit()
    created = run_or_exit(_with_db(settings, init_tables))
    out.print("created: " + ", ".join(created) if created else "nothing to do: all tables exist")


@keys_app.command("create")
def keys_create(
    user: Annotated[str, typer.Option(help="The API user the key belongs to.")],
) -> None:
    """Create a key; it is printed once, alone on the last line, and never stored."""
    settings = settings_or_exit()
    key = run_or_exit(_with_db(settings, lambda db: keys.create_key(db, user)))
    err.print(f"API key for {user} (shown once; store it now):")
    print(key)


@keys_app.command("list")
def keys_list() -> None:
    """List keys: id, user, created, revoked (never the keys themselves)."""
    settings = settings_or_exit()
    rows = run_or_exit(_with_db(settings, keys.list_keys))
    table = Table("id", "user", "created", "revoked")
    for row in rows:
        table.add_row(str(row.key_id), row.api_user, str(row.created_at), str(row.revoked_at or ""))
    out.print(table)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[int | None, typer.Argument(help="The id shown by 'keys list'.")] = None,
    user: Annotated[str | None, typer.Option(help="Revoke every key of this user.")] = None,
) -> None:
    """Revoke one key by id, or every key of a user."""
    if (key_id is None) == (user is None):
        fail("give a key id or --user, not both", 2)
    settings = settings_or_exit()
    if user is not None:
        count = run_or_exit(_with_db(settings, lambda db: keys.revoke_user_keys(db, user)))
        out.print(f"revoked {count} key(s) of {user}")
        return
    assert key_id is not None
    revoked_id = key_id
    if not run_or_exit(_with_db(settings, lambda db: keys.revoke_key(db, revoked_id))):
        fail(f"no live key with id {revoked_id}")
    out.print(f"revoked key {revoked_id}")


@app.command("verify")
def verify_command(
    limit: Annotated[
        int, typer.Option(min=0, help="How many differing lead IDs to list at most.")
    ] = DEFAULT_LIMIT,
) -> None:
    """Check, read-only, that archived leads match vicidial_list and both tables match.

    Exit 0 when clean, 1 when a lead differs or the schemas drift, 2 when it cannot check.
    """
    settings = settings_or_exit()
    try:
        report = asyncio.run(_with_db(settings, lambda db: verify(db, limit=limit)))
    except ArchiveError as error:
        fail(error.message, 2)
    _print_report(report)
    if not report.clean:
        raise typer.Exit(1)


def say(text: str) -> None:
    """Print a line unwrapped, so scripts can grep it."""
    out.print(text, highlight=False, soft_wrap=True)


def _print_report(report: VerifyReport) -> None:
    say(
        f"vicidial_list: {report.leads} leads; vicidial_list_archive: {report.archived} leads; "
        f"in both: {report.in_both} ({report.compared_columns} columns compared byte for byte)"
    )
    if report.identical_in_both:
        say(
            f"{report.identical_in_both} lead(s) are archived exactly but still in "
            "vicidial_list: rerun their batch to delete them."
        )
    if report.drift:
        say(f"{len(report.drift)} difference(s) between the two tables' columns:")
        table = Table("schema drift")
        for line in report.drift:
            table.add_row(line)
        out.print(table)
    if report.differing:
        say(f"{report.differing} lead(s) in both tables with different data:")
        table = Table("lead_id")
        for lead_id in report.first_differing:
            table.add_row(str(lead_id))
        out.print(table)
        shown = len(report.first_differing)
        if shown < report.differing:
            say(f"… and {report.differing - shown} more (first {shown} shown).")
        say("They are still in vicidial_list: rerun their batch to archive their current data.")
    say("OK: archive and vicidial_list agree." if report.clean else "NOT CLEAN.")


@app.command()
def demo(
    database: Annotated[str, typer.Option(help="Demo database to (re)create.")] = DEMO_DATABASE,
) -> None:
    """Recreate a demo database with a dummy list of 500 leads, print a key and a curl, serve."""
    from lead_archive_server.cli import serve as run

    base = settings_or_exit()
    url = base.database.with_database(database)
    overrides: dict[str, Any] = {"database_url": url.url()}
    if "LEAD_ARCHIVE_OFFICE_HOURS" not in os.environ:
        overrides["office_hours"] = "none"
    settings = settings_or_exit(**overrides)
    seeded = run_or_exit(seed_demo(url))
    run_or_exit(
        run.run(settings, on_ready=lambda g, h: _print_demo(settings, seeded, g, h)),
        event_loop=settings.event_loop,
    )


@app.command("archive")
def archive(
    list_id: Annotated[
        list[str] | None,
        typer.Option("--list-id", metavar="ID", help="Leads of this list; repeat or use commas."),
    ] = None,
    campaign: Annotated[
        list[str] | None,
        typer.Option(
            metavar="ID",
            help="Leads of every list of this campaign (vicidial_lists); repeat or use commas.",
        ),
    ] = None,
    status: Annotated[
        list[str] | None,
        typer.Option(metavar="STATUS", help="Leads with this status; repeat or use commas."),
    ] = None,
    called_before: Annotated[
        str | None,
        typer.Option(
            metavar="DATE",
            help="Leads last called before this day (YYYY-MM-DD, today or yesterday).",
        ),
    ] = None,
    entered_before: Annotated[
        str | None,
        typer.Option(metavar="DATE", help="Leads entered before this day (entry_date)."),
    ] = None,
    all_leads: Annotated[
        bool, typer.Option("--all", help="Every lead in vicidial_list, with no cut-off.")
    ] = False,
    ids_from: Annotated[
        str | None,
        typer.Option(metavar="FILE", help="Read the lead IDs from FILE (- for stdin) instead."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would move; change nothing.")
    ] = False,
    no_delete: Annotated[
        bool, typer.Option("--no-delete", help="Copy into the archive; delete nothing.")
    ] = False,
    concurrency: Annotated[int, typer.Option(help="Batches in flight at once.")] = 4,
    batch_size: Annotated[int, typer.Option(help="Leads per batch, at most 500.")] = 500,
    target: Annotated[
        str | None,
        typer.Option(
            metavar="HOST:PORT",
            help="The gRPC server (default: LEAD_ARCHIVE_TARGET, else 127.0.0.1 and "
            "LEAD_ARCHIVE_GRPC_PORT).",
        ),
    ] = None,
    api_key: Annotated[
        str | None, typer.Option(help="The API key (default: LEAD_ARCHIVE_API_KEY).")
    ] = None,
    tls: Annotated[
        bool,
        typer.Option(
            "--tls",
            help="Reach the server over TLS (on by default for this machine's gRPC port "
            "when the settings give it a certificate).",
        ),
    ] = False,
    ca_cert: Annotated[
        Path | None, typer.Option(metavar="FILE", help="Trust this CA for TLS (implies --tls).")
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds one batch may take.")] = 60.0,
    retry_for: Annotated[
        float, typer.Option(help="Seconds to keep retrying an unreachable server.")
    ] = 120.0,
) -> None:
    """Archive many leads through the API, selected like ADMIN_archive_leads.pl or listed.

    Cut-offs combine: a lead must match them all. Rerun to finish an interrupted run.

    Exit codes: 0 all archived, 1 some not, 2 wrong options, 3 office hours, 130 Ctrl-C.
    """
    settings = settings_or_exit()
    try:
        selection = bulk.Selection(
            list_ids=tuple(_list_ids(list_id or [])),
            campaigns=bulk.split_values(campaign or []),
            statuses=bulk.split_values(status or []),
            called_before=_day(called_before),
            entered_before=_day(entered_before),
        )
        if ids_from is not None and all_leads:
            raise bulk.JobError("--ids-from selects the leads itself: leave out --all")
        if all_leads != selection.is_empty and ids_from is None:
            raise bulk.JobError(
                "say which leads: --list-id, --campaign, --status, --called-before, "
                "--entered-before (combined), --ids-from, or --all (and --all alone)"
            )
        job = bulk.Job(
            selection=selection,
            lead_ids=None if ids_from is None else _read_ids(ids_from),
            delete=not no_delete,
            dry_run=dry_run,
            batch_size=batch_size,
            concurrency=concurrency,
        )
        connection = Connection.from_options(
            settings,
            target=target,
            api_key=api_key,
            tls=tls,
            ca_cert=ca_cert,
            timeout=timeout,
            retry_for=retry_for,
        )
    except bulk.JobError as error:
        fail(str(error), bulk.EXIT_USAGE)
    try:
        code = run_or_exit(run_archive(job, settings, connection, Screens(out, err)))
    except KeyboardInterrupt:  # before the first batch: the run itself handles Ctrl-C
        fail("interrupted before any batch was sent", bulk.EXIT_INTERRUPTED)
    raise typer.Exit(code)


def _list_ids(values: list[str]) -> list[int]:
    ids = []
    for value in bulk.split_values(values):
        if not value.isdigit():
            raise bulk.JobError(f"--list-id {value!r} is not a list ID")
        ids.append(int(value))
    return ids


def _day(text: str | None) -> date | None:
    return None if text is None else bulk.parse_day(text, today=date.today())


def _read_ids(path: str) -> Sequence[int]:
    if path == "-":
        listed = bulk.read_lead_ids(sys.stdin, source="stdin")
    else:
        try:
            with open(path, encoding="utf-8", errors="replace") as lines:
                listed = bulk.read_lead_ids(lines, source=path)
        except OSError as error:
            raise bulk.JobError(f"--ids-from {path}: {error.strerror or error}") from None
    if listed.repeats:
        err.print(f"{listed.repeats} repeated lead IDs are taken once.", highlight=False)
    return listed.lead_ids


def _announce(settings: Settings) -> run.OnReady:
    def announce(grpc_port: int, http_port: int | None) -> None:
        err.print(f"gRPC on {settings.grpc_host}:{grpc_port}", highlight=False)
        if http_port is not None:
            scheme = "https" if settings.http_tls else "http"
            err.print(f"REST on {scheme}://{settings.http_host}:{http_port}", highlight=False)

    return announce


def _print_demo(settings: Settings, demo: Demo, grpc_port: int, http_port: int | None) -> None:
    first, last = demo.lead_ids[0], demo.lead_ids[-1]
    scheme = "https" if settings.http_tls else "http"
    url = f"{scheme}://{settings.http_host}:{http_port}/vicidial/leads/archive"
    out.print(
        f"""
[bold]lead-archive demo[/bold]: database {demo.url.masked()}
List {DEMO_LIST_ID} holds {len(demo.lead_ids)} dummy leads, lead IDs {first} to {last}.
Office hours: {settings.office_hours}.
gRPC: {settings.grpc_host}:{grpc_port}   REST: {url}
Demo API key (user demo): {demo.api_key}

Archive two demo leads:
""",
        highlight=False,
    )
    print(
        f"curl -k -X POST {url} \\\n"
        f'-H "Authorization: Key={demo.api_key}" \\\n'
        '-H "Content-Type: application/json" \\\n'
        f'-d \'{{"insert_leads": true, "update_leads": true, "delete_leads": true, '
        f'"lead_ids": [{first}, {first + 1}]}}\'\n',
        flush=True,
    )
    err.print("Ctrl-C stops the demo.")


if __name__ == "__main__":
    main()
