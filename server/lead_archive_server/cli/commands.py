"""The `lead-archive` command: run the service, set up tables, manage keys, run a demo."""

from __future__ import annotations

import asyncio
import dataclasses
import getpass
import inspect
import logging
import typing
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer
import typer.core
from lead_archive_client.vocabulary import ARCHIVE_PATH, SCOPES, Scope
from rich.console import Console
from rich.table import Table
from rich.text import Text

from lead_archive_server.access import keys
from lead_archive_server.access.schedules import ServerZone
from lead_archive_server.bulk.console import Screens
from lead_archive_server.bulk.errors import EXIT_INTERRUPTED, EXIT_USAGE, JobError
from lead_archive_server.bulk.options import RESTORE_LEAVES_OUT, CommandLine, parse_options
from lead_archive_server.bulk.run import run as run_bulk
from lead_archive_server.bulk.values import ascii_number
from lead_archive_server.cli import config_show
from lead_archive_server.cli.demo import (
    DEMO_DATABASE,
    DEMO_LIST_ID,
    RESET_CONFIGURED_FLAG,
    Demo,
    prepare_demo_database,
    seed_demo,
)
from lead_archive_server.cli.verify import DEFAULT_LIMIT, VerifyReport, verify
from lead_archive_server.core import sql
from lead_archive_server.core.database_url import DatabaseUrl
from lead_archive_server.core.db import Database
from lead_archive_server.core.errors import ArchiveError, OperatorError
from lead_archive_server.core.tables import init_tables
from lead_archive_server.runtime import logs
from lead_archive_server.runtime.settings import Settings, SettingsError, env_name, load_settings
from lead_archive_server.service.audit import AdminLog, KeyEvent

if TYPE_CHECKING:
    # The serving half (FastAPI, uvicorn, the gRPC server) is imported by the commands that
    # serve, inside them: `lead-archive archive` and the others start ~0.5 s sooner without it.
    from lead_archive_server.cli import serve as run

T = TypeVar("T")
KEYWORD_ONLY = inspect.Parameter.KEYWORD_ONLY


def _argument_type(self: typer.core.TyperArgument, ctx: Any) -> str | None:
    """An argument with a metavar shows only it, as an option does (typer adds `<str>`)."""
    return None if self.metavar else typer.core.TyperArgument.display_type(self, ctx)


typer.core.TyperArgument.display_type_rich = _argument_type  # type: ignore[method-assign, assignment]

app = typer.Typer(
    help="Move old Vicidial leads from vicidial_list to vicidial_list_archive, losing none.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
# Plain help (rich_markup_mode=None): options show a named value (N, SECONDS), no type labels.
db_app = typer.Typer(
    help="Create the tables the service needs.", no_args_is_help=True, rich_markup_mode=None
)
keys_app = typer.Typer(
    help="Create, list, rotate and revoke API keys.", no_args_is_help=True, rich_markup_mode=None
)
config_app = typer.Typer(
    help="Show the settings in effect.", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(config_app, name="config")

err = Console(stderr=True)
out = Console()
WIDE = 200  # columns of a table written to a file or a pipe, so that no row wraps


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


def run_or_exit(
    coroutine: Coroutine[Any, Any, T], *, event_loop: str = "asyncio", code: int = 1
) -> T:
    """Run a coroutine; the service's own errors (a database down, a port in use, …) end in
    one line and exit `code`. Anything else is a bug, and shows as one."""
    try:
        with asyncio.Runner(loop_factory=loop_factory(event_loop)) as runner:
            return runner.run(coroutine)
    except ArchiveError as error:
        fail(error.message, code)
    except OperatorError as error:
        fail(str(error), code)


def loop_factory(event_loop: str) -> Callable[[], asyncio.AbstractEventLoop]:
    """uvloop for the servers when it is installed (the `fast` extra): less time per request."""
    if event_loop in ("auto", "uvloop"):
        try:
            import uvloop
        except ImportError:
            if event_loop == "uvloop":
                fail(f"{env_name('event_loop')}=uvloop, but uvloop is not installed", 2)
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
    upstream: Annotated[str, typer.Option(metavar="HOST:PORT", help="The gRPC server.")],
    upstream_tls: Annotated[
        bool,
        typer.Option(
            help=f"Reach the gRPC server over TLS (CA: {env_name('upstream_ca')}, else the "
            f"system's; name: {env_name('upstream_server_name')}, else HOST)."
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
    settings = settings_or_exit()
    print(config_show.render(settings, run_or_exit(config_show.zone_in_effect(settings))))


@db_app.command("init")
def db_init() -> None:
    """Create the API key table and vicidial_list_archive where missing, and upgrade an older
    key table in place; safe to run twice."""
    settings = settings_or_exit()
    made = run_or_exit(_with_db(settings, init_tables))
    if made.created:
        out.print("created: " + ", ".join(made.created))
    if made.added_key_columns:
        say(
            f"upgraded {sql.KEYS}: added {', '.join(made.added_key_columns)} "
            "(keys made before scopes keep both, archive and restore)"
        )
    if not made.created and not made.added_key_columns:
        out.print("nothing to do: all tables exist and are current")


# --- Keys ---------------------------------------------------------------------------------------

ScopeOption = Annotated[
    list[str] | None,
    typer.Option(
        "--scope",
        metavar="SCOPE",
        help=f"What the key may do: {' or '.join(SCOPES)}; repeat for both "
        f"(default: {Scope.ARCHIVE} alone).",
    ),
]
ExpiresInOption = Annotated[
    str | None,
    typer.Option(
        metavar="DURATION",
        help="Refuse the key after this long: a number with s, m, h or d (e.g. 90d).",
    ),
]
ExpiresOption = Annotated[
    str | None,
    typer.Option(
        metavar="YYYY-MM-DD",
        help="Refuse the key from the end of that day, in the server's zone.",
    ),
]


def _terms_or_exit(work: Callable[[], T]) -> T:
    """Scopes, durations and dates checked before anything is stored: exit 2 when wrong."""
    try:
        return work()
    except (keys.InvalidKeyTerms, keys.InvalidUserName) as error:
        fail(str(error), 2)


def _expiry(settings: Settings, expires_in: str | None, expires: str | None) -> keys.Expiry:
    """When the key stops working, from --expires-in or --expires (neither: never)."""
    if expires_in is not None and expires is not None:
        fail("give --expires-in or --expires, not both", 2)
    if expires_in is not None:
        text = expires_in
        return keys.Expiry(_terms_or_exit(lambda: keys.parse_duration(text, option="--expires-in")))
    if expires is None:
        return keys.NEVER
    day = _terms_or_exit(lambda: keys.parse_day(expires, option="--expires"))
    zone = run_or_exit(_with_db(settings, lambda db: _server_zone(settings, db)))
    now = datetime.now(UTC)
    at = _terms_or_exit(lambda: keys.end_of_day(day, zone, now, option="--expires"))
    return keys.Expiry(at=at)


async def _server_zone(settings: Settings, db: Database) -> tzinfo:
    """The server's zone: the timezone setting, else the database server's clock."""
    office = settings.server.office
    return await ServerZone(db, office.zone, setting=office.names.timezone).get()


def _operator() -> str:
    """Who runs the command (their login name), for the admin log."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in the environment or the password file
        return "unknown"


def _when(moment: datetime | None, none: str = "") -> str:
    """A time to the minute, as `keys list` shows it."""
    return moment.strftime("%Y-%m-%d %H:%M") if moment is not None else none


def _expiry_note(expires: keys.Expiry) -> str:
    when = expires.when()
    return "never" if when is None else f"{_when(when)} UTC"


async def _audited(settings: Settings, db: Database, events: list[KeyEvent]) -> None:
    """Write the key commands' admin log rows; a failure is said, never fatal (the key
    change is made, and a created key must still be shown)."""
    admin_log = AdminLog(db, enabled=settings.audit, timeout_s=settings.audit_timeout_s)
    error = await admin_log.record(events)
    if error is not None:
        err.print(
            f"lead-archive: warning: no row written to {sql.ADMIN_LOG}: {error}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )


@keys_app.command("create")
def keys_create(
    user: Annotated[str, typer.Option(metavar="USER", help="The API user the key belongs to.")],
    scope: ScopeOption = None,
    expires_in: ExpiresInOption = None,
    expires: ExpiresOption = None,
) -> None:
    """Create a key; it is printed once, alone on the last line, and never stored."""
    _terms_or_exit(lambda: keys.check_user_name(user))
    scopes = _terms_or_exit(lambda: keys.checked_scopes(scope or [Scope.ARCHIVE]))
    settings = settings_or_exit()
    expiry = _expiry(settings, expires_in, expires)

    async def create(db: Database) -> keys.NewKey:
        made = await keys.new_key(db, user, scopes=scopes, expires=expiry)
        notes = (f"scopes: {','.join(scopes)}", f"expires_at: {_expiry_note(expiry)}")
        await _audited(settings, db, [KeyEvent("create", made.key_id, _operator(), user, notes)])
        return made

    made = run_or_exit(_with_db(settings, create))
    err.print(
        f"API key {made.key_id} for {user}, scopes {', '.join(scopes)}, expires "
        f"{_expiry_note(expiry)} (shown once; store it now):",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    print(made.key)


@keys_app.command("list")
def keys_list() -> None:
    """List keys: id, user, scopes, created, expiry, last use and from where, revoked (never
    the keys themselves). Warns of keys that expire within 7 days."""
    settings = settings_or_exit()
    rows = run_or_exit(_with_db(settings, keys.list_keys))
    table = Table(
        "id",
        "user",
        "scopes",
        "created",
        "expires (UTC)",
        "last used (UTC)",
        "from",
        "revoked",
    )
    for row in rows:
        expires = _when(row.expires_at, "never") + (" (expired)" if row.expired else "")
        table.add_row(
            str(row.key_id),
            Text(keys.shown_user(row.api_user)),  # text, not markup; control chars escaped
            ",".join(row.scopes),
            _when(row.created_at),
            expires,
            _when(row.last_used_at, "never"),
            Text(row.last_used_from or ""),
            _when(row.revoked_at),
        )
    # A table a script can read: one line per key when the output is not a terminal.
    (out if out.is_terminal else Console(width=WIDE)).print(table)
    for row in rows:
        if row.live and row.expiring_soon:
            say(f"warning: {keys.expiry_warning(row)}")
    for row in rows:
        if row.revoked_at is None and not keys.valid_user_name(row.api_user):
            say(
                f"key {row.key_id}: user {row.api_user!a} is not {keys.USER_NAME_RULE}; "
                f"the service refuses this key: revoke it ('keys revoke {row.key_id}') and "
                "create one for a valid name"
            )


def _key_id(text: str) -> int:
    number = ascii_number(text)
    if number is None:
        fail(f"{text!r} is not a key id (digits 0-9, as 'keys list' shows)", 2)
    return number


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[
        str | None, typer.Argument(metavar="ID", help="The id shown by 'keys list'.")
    ] = None,
    user: Annotated[
        str | None, typer.Option(metavar="USER", help="Revoke every key of this user.")
    ] = None,
) -> None:
    """Revoke one key by id, or every key of a user."""
    if key_id is None and user is None:
        fail("say which keys: a key id, or --user USER (see 'keys list')", 2)
    if key_id is not None and user is not None:
        fail("give a key id or --user, not both", 2)
    number = None if key_id is None else _key_id(key_id)
    settings = settings_or_exit()

    async def revoke(db: Database) -> list[int]:
        if user is not None:
            owner, revoked = user, await keys.revoke_keys_of(db, user)
        else:
            assert number is not None
            found = await keys.revoked_key_user(db, number)
            owner, revoked = found or "", [] if found is None else [number]
        operator = _operator()
        events = [KeyEvent("revoke", revoked_id, operator, owner) for revoked_id in revoked]
        await _audited(settings, db, events)
        return revoked

    revoked = run_or_exit(_with_db(settings, revoke))
    if user is not None:
        if not revoked:
            fail(f"no live keys of user {user!r}: nothing revoked")
        out.print(f"revoked {len(revoked)} key(s) of {user}")
    elif not revoked:
        fail(f"no live key with id {number}")
    else:
        out.print(f"revoked key {number}")


@keys_app.command("rotate")
def keys_rotate(
    key_id: Annotated[str, typer.Argument(metavar="ID", help="The id shown by 'keys list'.")],
    grace: Annotated[
        str,
        typer.Option(
            metavar="DURATION",
            help="How long the old key still works (e.g. 24h, 30m; 0s: not at all).",
        ),
    ] = "24h",
    expires_in: ExpiresInOption = None,
    expires: ExpiresOption = None,
) -> None:
    """Create a new key for the same user and scopes; the old one is refused once the grace
    period ends. The new key is printed once, alone on the last line."""
    number = _key_id(key_id)
    grace_s = _terms_or_exit(lambda: keys.parse_duration(grace, option="--grace", allow_zero=True))
    settings = settings_or_exit()
    expiry = _expiry(settings, expires_in, expires)

    async def rotate(db: Database) -> keys.Rotated | None:
        rotated = await keys.rotate_key(db, number, grace_s=grace_s, expires=expiry)
        if rotated is not None:
            notes = (
                f"new_key_id: {rotated.new.key_id}",
                f"scopes: {','.join(rotated.scopes)}",
                f"old_key_expires_at: {_when(rotated.old_expires_at)} UTC",
                f"new_key_expires_at: {_expiry_note(expiry)}",
            )
            event = KeyEvent("rotate", number, _operator(), rotated.api_user, notes)
            await _audited(settings, db, [event])
        return rotated

    rotated = run_or_exit(_with_db(settings, rotate))
    if rotated is None:
        fail(f"no live key with id {number}")
    err.print(
        f"key {number} of {keys.shown_user(rotated.api_user)} rotated: it is refused from "
        f"{_when(rotated.old_expires_at)} UTC. New key {rotated.new.key_id}, scopes "
        f"{', '.join(rotated.scopes)}, expires {_expiry_note(expiry)} "
        "(shown once; store it now):",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    print(rotated.new.key)


@app.command("verify")
def verify_command(
    limit: Annotated[
        int, typer.Option(min=0, metavar="N", help="How many differing lead IDs to list at most.")
    ] = DEFAULT_LIMIT,
) -> None:
    """Check, read-only, that archived leads match vicidial_list and both tables match.

    Exit 0 when clean, 1 when a lead differs or the schemas drift, 2 when it cannot check.
    """
    settings = settings_or_exit()
    report = run_or_exit(_with_db(settings, lambda db: verify(db, limit=limit)), code=2)
    _print_report(report)
    if not report.clean:
        raise typer.Exit(1)


def say(text: str) -> None:
    """Print a line unwrapped, so scripts can grep it."""
    out.print(text, markup=False, highlight=False, soft_wrap=True)


def _print_report(report: VerifyReport) -> None:
    say(
        f"vicidial_list: {report.leads} leads; vicidial_list_archive: {report.archived} leads; "
        f"in both: {report.in_both} ({report.compared_columns} columns compared byte for byte)"
    )
    if report.in_both and not report.modify_date_moves:
        say(
            "Note: vicidial_list.modify_date does not change on UPDATE here (no ON UPDATE "
            "CURRENT_TIMESTAMP, as Vicidial's installer leaves it on MariaDB 10.10+). verify "
            "tells a lead the dialer changed after archiving only by a later "
            "last_local_call_time or a higher called_count; a lead changed without a call "
            "(an agent's or an admin's edit) is listed with the leads whose copy differs."
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
    if report.changed_since:
        say(
            f"{report.changed_since} lead(s) changed in vicidial_list after they were archived "
            "(normal after --no-delete, or for a lead kept because it changed): their copies "
            "are stale and vicidial_list holds the real data; rerun their batch to refresh "
            "and archive them."
        )
    if report.unexplained:
        say(f"{report.unexplained} lead(s) in both tables with different data:")
        listed = report.first_differing[: report.unexplained]  # the query lists these first
        table = Table("lead_id")
        for lead_id in listed:
            table.add_row(str(lead_id))
        out.print(table)
        if len(listed) < report.unexplained:
            say(f"… and {report.unexplained - len(listed)} more (first {len(listed)} shown).")
        say("They are still in vicidial_list: rerun their batch to archive their current data.")
    if not report.clean:
        say("NOT CLEAN.")
    elif report.changed_since:
        say("OK: no lead at risk; the only differences are leads changed after archiving.")
    else:
        say("OK: archive and vicidial_list agree.")


@app.command()
def demo(
    database: Annotated[
        str,
        typer.Option(
            metavar="NAME",
            help="Demo database to create; one the demo made before is reset, any other "
            "is refused.",
        ),
    ] = DEMO_DATABASE,
    reset_configured: Annotated[
        bool,
        typer.Option(
            RESET_CONFIGURED_FLAG,
            help=f"Allow resetting the database the settings name ({env_name('database_url')}), "
            "when the demo made it.",
        ),
    ] = False,
) -> None:
    """Create a demo database with a dummy list of 500 leads, print a key and a curl, serve."""
    from lead_archive_server.cli import serve as run

    base = settings_or_exit()
    url = base.database.with_database(database)
    overrides: dict[str, Any] = {"database_url": url.url()}
    if not base.given("office_hours"):
        overrides["office_hours"] = "none"
    settings = settings_or_exit(**overrides)
    run_or_exit(
        prepare_demo_database(
            url,
            configured=base.database,
            configured_source=base.database_source,
            reset_configured=reset_configured,
        )
    )
    seeded = run_or_exit(seed_demo(url))
    run_or_exit(
        run.run(settings, on_ready=lambda g, h: _print_demo(settings, seeded, g, h)),
        event_loop=settings.event_loop,
    )


# --- Bulk commands: `archive` and `restore` share every option and the whole run -------------


def taking(
    options: type[CommandLine], *, leave_out: tuple[str, ...] = ()
) -> Callable[[Callable[[CommandLine], None]], Callable[..., None]]:
    """Give a command the fields of ``options`` as its typer options (but those left out,
    which keep their defaults); the command itself takes them as one object."""
    hints = typing.get_type_hints(options, include_extras=True)
    parameters = [
        inspect.Parameter(
            item.name, KEYWORD_ONLY, default=item.default, annotation=hints[item.name]
        )
        for item in dataclasses.fields(options)
        if item.name not in leave_out
    ]

    def decorate(command: Callable[[CommandLine], None]) -> Callable[..., None]:
        def with_options(**given: Any) -> None:
            command(options(**given))

        # What typer reads (inspect.signature, typing.get_type_hints): the options as
        # parameters of their own.
        with_options.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        with_options.__annotations__ = {p.name: p.annotation for p in parameters}
        with_options.__doc__ = command.__doc__
        with_options.__name__ = command.__name__
        return with_options

    return decorate


@app.command("archive")
@taking(CommandLine)
def archive(line: CommandLine) -> None:
    """Archive many leads through the API, selected like ADMIN_archive_leads.pl or listed.

    Cut-offs combine: a lead must match them all. Rerun to finish an interrupted run.

    Exit codes: 0 all archived, 1 some not, 2 wrong options, 3 office hours, 130 Ctrl-C.
    """
    _bulk(line, sql.ARCHIVING)


@app.command("restore")
@taking(CommandLine, leave_out=RESTORE_LEAVES_OUT)
def restore(line: CommandLine) -> None:
    """Bring archived leads back into vicidial_list through the API, selected from
    vicidial_list_archive with the same options as `archive`, or listed.

    A lead already in vicidial_list with other data stays in both tables, untouched.
    Office hours do not apply. Rerun to finish an interrupted run.

    Exit codes: 0 all restored, 1 some not, 2 wrong options, 130 Ctrl-C.
    """
    _bulk(line, sql.RESTORING)


def _bulk(line: CommandLine, flow: sql.Flow) -> NoReturn:
    """Parse the options once and run `archive` or `restore` with them."""
    settings = settings_or_exit()
    try:
        options = parse_options(line, flow, settings)
    except JobError as error:
        fail(str(error), EXIT_USAGE)
    screens = Screens(out, err, quiet=options.quiet)
    try:
        code = run_or_exit(run_bulk(options, settings, screens))
    except KeyboardInterrupt:  # before the first batch: the run itself handles Ctrl-C
        fail("interrupted before any batch was sent", EXIT_INTERRUPTED)
    raise typer.Exit(code)


def _announce(settings: Settings) -> run.OnReady:
    def say_ready(line: str) -> None:
        # With LEAD_ARCHIVE_LOG_FORMAT=json every line on stderr is a JSON log record.
        if settings.log_format == "json":
            logging.getLogger("lead_archive_server.cli").info(line)
        else:
            err.print(line, highlight=False)

    def announce(grpc_port: int, http_port: int | None) -> None:
        say_ready(f"gRPC on {settings.grpc.host}:{grpc_port}")
        if http_port is not None:
            scheme = "https" if settings.http.tls else "http"
            say_ready(f"REST on {scheme}://{settings.http.host}:{http_port}")

    return announce


def _usable_url(url: DatabaseUrl) -> str:
    """The URL to export; a password is shown as *** (the operator types their own)."""
    return url.masked() if url.password else url.url()


def _password_note(url: DatabaseUrl) -> str:
    return "\n  (with your database password in place of ***)" if url.password else ""


def _print_demo(settings: Settings, demo: Demo, grpc_port: int, http_port: int | None) -> None:
    first, last = demo.lead_ids[0], demo.lead_ids[-1]
    scheme = "https" if settings.http.tls else "http"
    url = f"{scheme}://{settings.http.host}:{http_port}{ARCHIVE_PATH}"
    out.print(
        f"""
[bold]lead-archive demo[/bold]: database {demo.url.masked()}
Other commands (archive, verify, keys) use it with:
  export {env_name("database_url")}='{_usable_url(demo.url)}'{_password_note(demo.url)}
List {DEMO_LIST_ID} holds {len(demo.lead_ids)} dummy leads, lead IDs {first} to {last}.
Office hours: {settings.office_hours}.
gRPC: {settings.grpc.host}:{grpc_port}   REST: {url}
Demo API key (user demo): {demo.api_key}

Archive two demo leads:
""",
        highlight=False,
        soft_wrap=True,  # lines to copy stay whole
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
