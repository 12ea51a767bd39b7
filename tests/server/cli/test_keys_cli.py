"""`lead-archive keys` and `db init` for keys with least privilege, through typer's CliRunner
against the real database: create, list, rotate, revoke, their audit rows, bad input, and the
upgrade of a key table made by the previous release."""

from __future__ import annotations

import asyncio
import getpass
import hashlib
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from lead_archive_server.access.keys import KeyUses, live_key
from lead_archive_server.cli.commands import app
from lead_archive_server.core.tables import init_tables
from typer.testing import CliRunner

from tests.processes import LEAD_ARCHIVE, environment, free_port
from tests.support import TestDb, wait_until

runner = CliRunner()
KEYS = "lead_archive_api_keys"
KEY_EVENTS = "SELECT event_type, record_id, user, event_code, event_notes FROM vicidial_admin_log"
# The key table as the previous release created it (its sql.CREATE_KEYS), before scopes.
PREVIOUS_RELEASE_DDL = """
CREATE TABLE IF NOT EXISTS lead_archive_api_keys (
  key_id INT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  api_user VARCHAR(20) NOT NULL,
  key_hash CHAR(64) CHARACTER SET ascii NOT NULL,
  created_at DATETIME NOT NULL,
  revoked_at DATETIME NULL,
  UNIQUE KEY key_hash (key_hash)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
"""
OLD_KEY = "previous-release-key-0123456789abcdef"


@pytest.fixture
async def keys_env(monkeypatch: pytest.MonkeyPatch, tdb: TestDb) -> TestDb:
    for name in ("LEAD_ARCHIVE_CONFIG", "LEAD_ARCHIVE_OFFICE_HOURS", "LEAD_ARCHIVE_TIMEZONE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LEAD_ARCHIVE_DATABASE_URL", tdb.db.url.url())
    await tdb.execute("DELETE FROM vicidial_admin_log WHERE event_section = 'ARCHIVE_API_KEYS'")
    return tdb


def invoke_now(*args: str) -> Any:
    return runner.invoke(app, list(args))


async def invoke(*args: str) -> Any:
    """Run the command in a thread: it runs its own event loop, which cannot nest in ours."""
    return await asyncio.to_thread(invoke_now, *args)


async def created_key(*args: str) -> str:
    result = await invoke("keys", "create", *args)
    assert result.exit_code == 0, result.output
    return str(result.output.strip().splitlines()[-1])


async def stored(tdb: TestDb, columns: str = "api_user, scopes") -> list[tuple[Any, ...]]:
    return [tuple(row) for row in await tdb.fetch(f"SELECT {columns} FROM {KEYS} ORDER BY key_id")]


async def key_events(tdb: TestDb) -> list[tuple[Any, ...]]:
    rows = await tdb.fetch(
        f"{KEY_EVENTS} WHERE event_section = 'ARCHIVE_API_KEYS' ORDER BY admin_log_id"
    )
    return [tuple(row) for row in rows]


async def test_create_gives_archive_alone_unless_told_and_audits_each_key(keys_env: TestDb) -> None:
    nightly = await created_key("--user", "nightly")
    await created_key("--user", "operator", "--scope", "restore")
    await created_key("--user", "both", "--scope", "restore", "--scope", "archive")
    assert await stored(keys_env) == [
        ("nightly", "archive"),
        ("operator", "restore"),
        ("both", "archive,restore"),
    ]
    hashes = await stored(keys_env, "key_hash")
    assert hashes[0] == (hashlib.sha256(nightly.encode()).hexdigest(),)
    ids = [row[0] for row in await stored(keys_env, "key_id")]
    events = await key_events(keys_env)
    assert [(e[0], e[1], e[2], e[3]) for e in events] == [
        ("ADD", str(key_id), getpass.getuser()[:20], "LEAD ARCHIVE API KEY CREATE")
        for key_id in ids
    ]
    assert events[1][4] == "api_user: operator|scopes: restore|expires_at: never"
    assert all(nightly not in str(event) for event in events)  # the key is never written


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--scope", "admin"), "unknown scope 'admin': the scopes are archive, restore"),
        (("--scope", "Archive"), "unknown scope 'Archive'"),
        (("--expires-in", "90x"), "--expires-in '90x': a number followed by s, m, h or d"),
        (("--expires-in", "90"), "--expires-in '90': a number followed by"),
        (("--expires-in", "0d"), "--expires-in '0d': from 1d to 3650d"),
        (("--expires-in", "3651d"), "from 1d to 3650d"),
        (("--expires-in", "1.5h"), "a number followed by s, m, h or d"),
        (("--expires", "2030-02-30"), "--expires '2030-02-30': a date as YYYY-MM-DD"),
        (("--expires", "next week"), "a date as YYYY-MM-DD"),
        (("--expires", "2001-01-01"), "--expires 2001-01-01: that day has ended already"),
        (("--expires-in", "1d", "--expires", "2099-01-01"), "not both"),
        (("--user", "has space"), "1 to 20 printable ASCII characters"),
    ],
)
async def test_bad_input_is_one_line_exit_2_and_nothing_stored(
    keys_env: TestDb, args: tuple[str, ...], says: str
) -> None:
    user = () if "--user" in args else ("--user", "nightly")
    result = await invoke("keys", "create", *user, *args)
    assert result.exit_code == 2, result.output
    assert says in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert "Traceback" not in result.output
    assert await keys_env.count(KEYS) == 0
    assert await key_events(keys_env) == []


async def test_expiry_is_stored_in_utc_from_a_duration_or_the_end_of_a_day(
    keys_env: TestDb, monkeypatch: pytest.MonkeyPatch
) -> None:
    await created_key("--user", "quarter", "--expires-in", "90d")
    zone = ZoneInfo("Asia/Tokyo")
    monkeypatch.setenv("LEAD_ARCHIVE_TIMEZONE", "Asia/Tokyo")
    day = datetime.now(zone).date() + timedelta(days=3)
    await created_key("--user", "dated", "--expires", day.isoformat())
    rows = await keys_env.fetch(
        f"SELECT api_user, TIMESTAMPDIFF(SECOND, UTC_TIMESTAMP(), expires_at), expires_at "
        f"FROM {KEYS} ORDER BY key_id"
    )
    assert abs(rows[0][1] - 90 * 86_400) <= 5
    end_of_day = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    expected = end_of_day.astimezone(UTC).replace(tzinfo=None)
    assert rows[1][2] == expected


def lines_of(output: str, key_id: int) -> str:
    [line] = [text for text in output.splitlines() if re.match(rf"\W*{key_id}\W", text)]
    return line


async def test_list_shows_scopes_expiry_last_use_and_warns_of_keys_expiring_within_7_days(
    keys_env: TestDb,
) -> None:
    await created_key("--user", "nightly")
    await created_key("--user", "soon", "--scope", "restore", "--expires-in", "3d")
    await created_key("--user", "later", "--expires-in", "30d")
    gone = await created_key("--user", "gone", "--expires-in", "1s")
    ids = [row[0] for row in await stored(keys_env, "key_id")]
    uses = KeyUses()
    found = await live_key(keys_env.db, await created_key("--user", "used", "--scope", "archive"))
    assert found is not None
    uses.used(found.key_id, "203.0.113.7")
    assert await uses.flush(keys_env.db) == 1

    async def expired() -> bool:
        return await live_key(keys_env.db, gone) is None

    await wait_until(expired, 15, "the 1 s key to expire", every=0.1)
    result = await invoke("keys", "list")
    assert result.exit_code == 0, result.output
    output = result.output
    for header in ("scopes", "expires (UTC)", "last used (UTC)", "from"):
        assert header in output
    nightly = lines_of(output, ids[0])
    assert "nightly" in nightly and " archive " in nightly and "never" in nightly
    assert "restore" in lines_of(output, ids[1])
    assert "(expired)" in lines_of(output, ids[3])
    used = lines_of(output, found.key_id)
    assert "203.0.113.7" in used
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d\W+203\.0\.113\.7", used), used
    warnings = [line for line in output.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1, output  # only the key that expires within 7 days, still live
    assert f"key {ids[1]} of API user soon expires at" in warnings[0]
    assert f"lead-archive keys rotate {ids[1]}" in warnings[0]


async def test_rotate_prints_a_new_key_for_the_same_user_and_scopes(keys_env: TestDb) -> None:
    old = await created_key("--user", "operator", "--scope", "restore")
    [old_id] = [row[0] for row in await stored(keys_env, "key_id")]
    result = await invoke("keys", "rotate", str(old_id), "--grace", "1h")
    assert result.exit_code == 0, result.output
    new = result.output.strip().splitlines()[-1]
    assert new != old and re.fullmatch(r"[A-Za-z0-9_-]{43}", new)
    assert f"key {old_id} of operator rotated" in result.output
    rows = await keys_env.fetch(
        f"SELECT key_id, api_user, scopes, TIMESTAMPDIFF(SECOND, UTC_TIMESTAMP(), expires_at), "
        f"key_hash FROM {KEYS} ORDER BY key_id"
    )
    assert [(r[1], r[2]) for r in rows] == [("operator", "restore")] * 2
    assert abs(rows[0][3] - 3600) <= 5 and rows[1][3] is None
    assert rows[1][4] == hashlib.sha256(new.encode()).hexdigest()
    [_, rotated] = await key_events(keys_env)
    assert rotated[:4] == (
        "MODIFY",
        str(old_id),
        getpass.getuser()[:20],
        "LEAD ARCHIVE API KEY ROTATE",
    )
    assert f"new_key_id: {rows[1][0]}" in rotated[4] and "scopes: restore" in rotated[4]
    # A shorter grace ends it sooner; a longer one never moves its end later.
    assert (await invoke("keys", "rotate", str(old_id), "--grace", "2h")).exit_code == 0
    assert (
        await keys_env.fetch(
            f"SELECT TIMESTAMPDIFF(SECOND, UTC_TIMESTAMP(), expires_at) FROM {KEYS} "
            "WHERE key_id = %s",
            (old_id,),
        )
    )[0][0] <= 3600


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (("abc",), 2, "'abc' is not a key id"),
        (("1", "--grace", "1y"), 2, "--grace '1y': a number followed by s, m, h or d"),
        (("1", "--grace", "-1h"), 2, "--grace '-1h'"),
        (("999999",), 1, "no live key with id 999999"),
    ],
)
async def test_rotate_bad_input(
    keys_env: TestDb, args: tuple[str, ...], code: int, says: str
) -> None:
    result = await invoke("keys", "rotate", *args)
    assert result.exit_code == code, result.output
    assert says in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert await keys_env.count(KEYS) == 0


async def test_revoke_audits_each_key_and_a_revoked_key_cannot_be_rotated(
    keys_env: TestDb,
) -> None:
    for _ in range(2):
        await created_key("--user", "ops")
    await created_key("--user", "single")
    ids = [row[0] for row in await stored(keys_env, "key_id")]
    by_user = await invoke("keys", "revoke", "--user", "ops")
    assert by_user.exit_code == 0, by_user.output
    assert "revoked 2 key(s) of ops" in by_user.output
    by_id = await invoke("keys", "revoke", str(ids[2]))
    assert by_id.exit_code == 0 and f"revoked key {ids[2]}" in by_id.output
    again = await invoke("keys", "rotate", str(ids[2]))
    assert again.exit_code == 1 and f"no live key with id {ids[2]}" in again.output
    revokes = [e for e in await key_events(keys_env) if e[0] == "DELETE"]
    assert [(e[1], e[3]) for e in revokes] == [
        (str(key_id), "LEAD ARCHIVE API KEY REVOKE") for key_id in ids
    ]


async def test_db_init_upgrades_a_key_table_of_the_previous_release_in_place(
    keys_env: TestDb,
) -> None:
    try:
        await keys_env.execute(f"DROP TABLE {KEYS}")
        await keys_env.execute(PREVIOUS_RELEASE_DDL)
        await keys_env.execute(
            f"INSERT INTO {KEYS} (api_user, key_hash, created_at) VALUES ('6666', %s, NOW())",
            (hashlib.sha256(OLD_KEY.encode()).hexdigest(),),
        )
        await a_server_refuses_to_start_on_it(keys_env)
        first = await invoke("db", "init")
        assert first.exit_code == 0, first.output
        assert (
            f"upgraded {KEYS}: added scopes, expires_at, last_used_at, last_used_from"
            in first.output
        )
        again = await invoke("db", "init")
        assert again.exit_code == 0, again.output
        assert "nothing to do" in again.output
        found = await live_key(keys_env.db, OLD_KEY)
        assert found is not None and found.scopes == ("archive", "restore")  # nothing stops
        assert await stored(keys_env, "api_user, scopes, expires_at, last_used_at") == [
            ("6666", "archive,restore", None, None)
        ]
        listed = await invoke("keys", "list")
        assert listed.exit_code == 0 and "archive,restore" in listed.output
    finally:
        await keys_env.execute(f"DROP TABLE IF EXISTS {KEYS}")
        await init_tables(keys_env.db)


async def a_server_refuses_to_start_on_it(tdb: TestDb) -> None:
    """`lead-archive grpc` and `serve` stop at once with one line that says what to run."""
    env = environment(
        database_url=tdb.db.url.url(),
        grpc_port=str(free_port()),
        http_port=str(free_port()),
        office_hours="none",
    )
    for command in ("grpc", "serve"):
        process = await asyncio.create_subprocess_exec(
            LEAD_ARCHIVE,
            command,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), 60)
        said = (out + err).decode()
        assert process.returncode == 1, said
        assert "Traceback" not in said
        [line] = said.strip().splitlines()
        assert "run 'lead-archive db init' to upgrade it" in line, line
        assert KEYS in line


def test_keys_help_names_the_new_commands_and_options() -> None:
    assert "rotate" in invoke_now("keys", "--help").output
    create = invoke_now("keys", "create", "--help").output
    for option in ("--scope", "--expires-in", "--expires"):
        assert option in create
    assert "--grace" in invoke_now("keys", "rotate", "--help").output


async def test_a_date_more_than_ten_years_ahead_is_refused(keys_env: TestDb) -> None:
    far = (date.today() + timedelta(days=3660)).isoformat()
    result = await invoke("keys", "create", "--user", "x", "--expires", far)
    assert result.exit_code == 2, result.output
    assert f"--expires {far}: at most 3650 days from now" in result.output
    assert await keys_env.count(KEYS) == 0
