"""Every SQL statement the service runs, as constants or small builders with %s placeholders."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import NamedTuple

from lead_archive_client.vocabulary import SCOPES

LEADS = "vicidial_list"
ARCHIVE = "vicidial_list_archive"
KEYS = "lead_archive_api_keys"
LISTS = "vicidial_lists"


def quote(identifier: str) -> str:
    """Quote a column or table name read from information_schema."""
    return "`" + identifier.replace("`", "``") + "`"


@lru_cache(maxsize=512)
def placeholders(count: int) -> str:
    """`%s,%s,…` for an IN list of `count` values."""
    return ",".join(["%s"] * count)


class Flow(NamedTuple):
    """Which way a batch moves leads: out of `source`, into `target`.

    Archiving and restoring run the same statements with the two tables swapped; each table
    keeps its alias (`l` for vicidial_list, `a` for the archive) whichever way leads move.
    """

    source: str
    target: str

    @property
    def aliases(self) -> tuple[str, str]:
        """The source's alias, then the target's."""
        return _ALIASES[self.source], _ALIASES[self.target]


_ALIASES = {LEADS: "l", ARCHIVE: "a"}
ARCHIVING = Flow(LEADS, ARCHIVE)
RESTORING = Flow(ARCHIVE, LEADS)


# --- Schema -------------------------------------------------------------------------------

# Both tables' columns in one round trip, in column order.
TABLE_COLUMNS = """
SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IFNULL(CHARACTER_SET_NAME, '')
FROM information_schema.COLUMNS
WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN (%s, %s)
ORDER BY TABLE_NAME, ORDINAL_POSITION
"""

# Both tables' full definitions (one row each), as the key of the column-list cache: the
# server writes them from the open table, with no information_schema temporary table on disk.
SHOW_CREATE_TABLES = f"SHOW CREATE TABLE {LEADS}; SHOW CREATE TABLE {ARCHIVE}"

# Vicidial's own way to create the archive (ADMIN_archive_leads.pl).
CREATE_ARCHIVE = (
    f"CREATE TABLE IF NOT EXISTS {ARCHIVE} LIKE {LEADS}",
    f"ALTER TABLE {ARCHIVE} MODIFY lead_id INT(9) UNSIGNED NOT NULL",
)

TABLE_EXISTS = """
SELECT COUNT(*) FROM information_schema.TABLES
WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s
"""

# Set on every new connection: room for a batch's lead IDs and the tables' columns in
# GROUP_CONCAT (MariaDB's default is 1 MiB, MySQL's only 1 KiB). The readers check what they
# get against COUNT(*), so a shorter limit refuses the batch with a message naming it, never
# a wrong answer.
# NO_AUTO_VALUE_ON_ZERO: a restore inserts explicit lead_ids into vicidial_list, whose
# AUTO_INCREMENT would otherwise number a lead_id of 0 afresh (a copy under another ID).
SESSION_SETUP = (
    "SET SESSION group_concat_max_len = 1048576, "
    "sql_mode = CONCAT(@@SESSION.sql_mode, ',NO_AUTO_VALUE_ON_ZERO')"
)

# --- Archive batch --------------------------------------------------------------------------

# One lock per database serialises batches, so overlapping batches never race on the
# archive's primary key. The server releases it if the connection dies.
# Lead IDs per range lock (LEAD_ARCHIVE_BATCH_LOCKS=ranges): a batch locks every range its IDs
# fall in, lead_id // LEAD_RANGE.
LEAD_RANGE = 500
DATABASE_LOCK = "CONCAT('lead_archive:', DATABASE())"


def range_lock(lead_range: int) -> str:
    """The name of one range's lock (beside the database's: `lead_archive:<db>:<range>`)."""
    return f"CONCAT('lead_archive:', DATABASE(), ':{int(lead_range)}')"


def lead_ranges(lead_ids: Iterable[int]) -> list[int]:
    """The ranges a batch's lead IDs fall in, ascending (the order every batch takes them)."""
    return sorted({lead_id // LEAD_RANGE for lead_id in lead_ids})


# What is left of a wait of %s seconds that began with the statement: NOW() is the statement's
# start, SYSDATE() the moment it is read.
_WAIT_LEFT = "GREATEST(0, %s - TIMESTAMPDIFF(MICROSECOND, NOW(6), SYSDATE(6)) / 1000000)"


def acquire_locks(names: Sequence[str]) -> str:
    """Take each named lock in turn, all of them within %s seconds (one %s a lock, each the
    same wait); 1 when all are held (AND stops at the first that gives up)."""
    waits = ["%s", *[_WAIT_LEFT] * (len(names) - 1)]
    return "SELECT " + " AND ".join(
        f"GET_LOCK({n}, {w})" for n, w in zip(names, waits, strict=True)
    )


def release_locks(names: Sequence[str]) -> str:
    """Release the named locks (one this connection does not hold is left alone)."""
    return "SELECT " + ", ".join(f"RELEASE_LOCK({name})" for name in names)


ACQUIRE_BATCH_LOCK = acquire_locks([DATABASE_LOCK])
RELEASE_BATCH_LOCK = release_locks([DATABASE_LOCK])


# Whether the session's transaction is still open (a failed statement may have ended it).
IN_TRANSACTION = "SELECT @@in_transaction"


# The leads found in the source, and those already in the target: each as COUNT, total
# length of the IDs and GROUP_CONCAT. One row of text costs far less to read than a row per
# lead; the caller checks each list against its COUNT and length, so a list cut short by
# group_concat_max_len (even inside an ID) is noticed and refused, never taken as complete.
def _ids_of(alias: str) -> str:
    return f"COUNT({alias}.lead_id), SUM(LENGTH({alias}.lead_id)), GROUP_CONCAT({alias}.lead_id)"


@lru_cache(maxsize=4)
def _batch_leads(flow: Flow) -> str:
    s, t = flow.aliases
    return (
        f"SELECT {_ids_of(s)}, {_ids_of(t)} "
        f"FROM {flow.source} {s} LEFT JOIN {flow.target} {t} ON {t}.lead_id = {s}.lead_id "
    )


@lru_cache(maxsize=512)
def select_batch_leads(count: int, flow: Flow = ARCHIVING) -> str:
    """The requested leads in the source and those already in the target, in one row."""
    return _batch_leads(flow) + f"WHERE {flow.aliases[0]}.lead_id IN ({placeholders(count)})"


@lru_cache(maxsize=512)
def select_batch_leads_in_span(outliers: int, flow: Flow = ARCHIVING) -> str:
    """The same for every lead_id from %s to %s, and for `outliers` more IDs (%s each), as
    two statements: the source's leads, then the target's (the arguments twice).

    For dense IDs one range scan of each table costs a fraction of an IN list of 500, and
    a fraction of looking each source row up in the target; the caller keeps only the IDs it
    asked for.
    """

    def leads_in(table: str, alias: str) -> str:
        where = f"WHERE {alias}.lead_id BETWEEN %s AND %s"
        if outliers:
            where += f" OR {alias}.lead_id IN ({placeholders(outliers)})"
        return f"SELECT {_ids_of(alias)} FROM {table} {alias} {where}"

    return f"{leads_in(flow.source, flow.aliases[0])}; {leads_in(flow.target, flow.aliases[1])}"


@lru_cache(maxsize=512)
def insert_missing(columns: tuple[str, ...], count: int, flow: Flow = ARCHIVING) -> str:
    """Copy leads that the target did not hold (membership was read under the batch lock).

    Every column is given a value, modify_date included, so neither its DEFAULT nor ON
    UPDATE CURRENT_TIMESTAMP comes into play: the copy is the row as it was.
    """
    names = ", ".join(quote(c) for c in columns)
    return (
        f"INSERT INTO {flow.target} ({names}) SELECT {names} FROM {flow.source} "
        f"WHERE lead_id IN ({placeholders(count)})"
    )


@lru_cache(maxsize=512)
def update_archived(columns: tuple[str, ...], count: int) -> str:
    """Overwrite every archived column with the current vicidial_list row.

    Assigning modify_date explicitly keeps ON UPDATE CURRENT_TIMESTAMP from bumping it.
    """
    assignments = ", ".join(f"a.{quote(c)} = l.{quote(c)}" for c in columns if c != "lead_id")
    return (
        f"UPDATE {ARCHIVE} a JOIN {LEADS} l ON l.lead_id = a.lead_id "
        f"SET {assignments} WHERE a.lead_id IN ({placeholders(count)})"
    )


def identical(left: str, right: str, column: str) -> str:
    """NULL-safe, byte-for-byte equality of one column (blind to collation and PAD SPACE)."""
    a, b = f"{left}.{quote(column)}", f"{right}.{quote(column)}"
    return f"{a} <=> {b} AND CAST({a} AS BINARY) <=> CAST({b} AS BINARY)"


@lru_cache(maxsize=512)
def delete_archived(columns: tuple[str, ...], count: int, flow: Flow = ARCHIVING) -> str:
    """Delete requested leads from the source whose copy in the target is identical in every
    column."""
    s, t = flow.aliases
    same = " AND ".join(identical("l", "a", c) for c in columns)
    return (
        f"DELETE {s} FROM {flow.source} {s} JOIN {flow.target} {t} ON {t}.lead_id = {s}.lead_id "
        f"WHERE {s}.lead_id IN ({placeholders(count)}) AND {same}"
    )


# --- The dialer around the archive (CONTRACT 6 and 9) ---------------------------------
# Vicidial's tables that name a lead by lead_id, with no foreign key. A lead stays in
# vicidial_list while one of them shows it in use; its READY hopper rows leave with it.

HOPPER = "vicidial_hopper"
AUTO_CALLS = "vicidial_auto_calls"
LIVE_AGENTS = "vicidial_live_agents"
CALLBACKS = "vicidial_callbacks"
DIALER_TABLES = (AUTO_CALLS, LIVE_AGENTS, HOPPER, CALLBACKS)
# Callbacks still due: AST_VDhopper.pl reads ACTIVE and TFHCCL (held back by a 24-hour call
# limit) as due; LIVE is one it has put in the hopper.
DUE_CALLBACKS = "('ACTIVE','LIVE','TFHCCL')"


class InUse(NamedTuple):
    """One way the dialer shows a lead in use: a row of `table` whose `column` names it."""

    table: str
    column: str
    alias: str
    condition: str = ""  # the rest of the WHERE clause (which callbacks count)

    @property
    def key(self) -> str:
        """`table.column`, as the data dictionary lookup names what it found."""
        return f"{self.table}.{self.column}"

    @property
    def rows(self) -> str:
        """`FROM … WHERE …` over the rows between the batch's lowest and highest lead_id
        (%s, %s)."""
        a = self.alias
        return f"FROM {self.table} {a} WHERE {a}.{self.column} BETWEEN %s AND %s{self.condition}"

    @property
    def names_lead(self) -> str:
        """A subquery that finds a row naming lead `l.lead_id`."""
        a = self.alias
        return f"SELECT 1 FROM {self.table} {a} WHERE {a}.{self.column} = l.lead_id{self.condition}"


# In DIALER_TABLES order; each reason takes the span twice in a guarded delete (guard_args).
IN_USE: tuple[InUse, ...] = (
    InUse(AUTO_CALLS, "lead_id", "c"),  # a call being placed or up
    InUse(LIVE_AGENTS, "lead_id", "g"),  # on an agent's screen
    InUse(LIVE_AGENTS, "preview_lead_id", "p"),  # on a preview screen, not yet dialled
    InUse(LIVE_AGENTS, "external_lead_id", "x"),  # switched to by the agent API
    InUse(HOPPER, "lead_id", "t"),
    InUse(CALLBACKS, "lead_id", "b", f" AND b.status IN {DUE_CALLBACKS}"),
)
HOPPER_LEADS = IN_USE[4]
IN_USE_KEYS = tuple(reason.key for reason in IN_USE)


def dialer_columns_present(keys: Sequence[str]) -> str:
    """Which of the `table.column` keys exist, one lookup each (the server answers each from
    the table's definition alone: "Open_frm_only; Scanned 0 databases")."""
    lookups = []
    for reason in IN_USE:
        if reason.key in keys:
            lookups.append(
                "SELECT CONCAT(TABLE_NAME, '.', COLUMN_NAME) FROM information_schema.COLUMNS "
                f"WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '{reason.table}' "
                f"AND COLUMN_NAME = '{reason.column}'"
            )
    return " UNION ALL ".join(lookups)


# Hopper rows anywhere between a batch's lowest and highest lead_id (arguments: both). When
# there are none, no requested lead has a READY row and the batch skips
# delete_ready_hopper_rows. (A MEMORY hopper's HASH index serves no range: this reads its
# few thousand rows, still a fraction of a millisecond.)
HOPPER_ROWS_IN_SPAN = f"SELECT COUNT(*) FROM {HOPPER} WHERE lead_id BETWEEN %s AND %s"


@lru_cache(maxsize=512)
def with_hopper_span(membership: str) -> str:
    """An archiving membership query (select_batch_leads…) with one more column in its first
    statement (the one on vicidial_list), HOPPER_ROWS_IN_SPAN: its two arguments come first.
    One statement less in the batch's first round trip."""
    source = f" FROM {LEADS} l "
    if not membership.startswith("SELECT ") or membership.find(" FROM ") != membership.find(source):
        raise ValueError("not an archiving membership query")
    return membership.replace(source, f", ({HOPPER_ROWS_IN_SPAN}){source}", 1)


# Each reason to keep a lead (alias l of vicidial_list) reads the dialer's rows between the
# batch's lowest and highest lead_id (%s, %s). The check is
#     (NOT EXISTS (SELECT 1 <rows>) OR l.lead_id NOT IN (SELECT <column> <rows>))
# The first part does not depend on the lead: the server runs it once per statement, one
# index range of the hopper or the callbacks, one pass over the few rows of the calls and
# agents' screens (no lead_id index there; a MEMORY hopper's HASH index serves no range
# either). On most batches it finds nothing and the second part never runs; when it finds
# rows, NOT IN reads them once into a lookup table (MATERIALIZED), never once per lead.
# Inside the DELETE both are locking reads of InnoDB tables: a row added in that range waits
# for the batch's COMMIT; a MyISAM or MEMORY table is locked for the statement. A NULL in
# the column would make NOT IN NULL and keep the lead: the safe way round.
# delete_ready_hopper_rows deletes from the hopper, which therefore cannot also be one of
# its subqueries (error 1093): there a taken row is found by an anti-join instead.
_TAKEN_JOIN = f"LEFT JOIN {HOPPER} taken ON taken.lead_id = l.lead_id AND taken.status <> 'READY'"


def _reasons(present: frozenset[str], skip: str = "") -> list[InUse]:
    """The reasons whose table and column exist, but `skip`'s, in IN_USE order."""
    return [r for r in IN_USE if r.key in present and r.key != skip]


def _not_in_use(present: frozenset[str], *, skip: str = "") -> str:
    """`AND (…)` keeping the leads each present reason but `skip` shows in use (each takes
    the span twice: see guard_args)."""
    return "".join(
        f" AND (NOT EXISTS (SELECT 1 {r.rows}) OR l.lead_id NOT IN "
        f"(SELECT {r.alias}.{r.column} {r.rows}))"
        for r in _reasons(present, skip)
    )


def guard_args(
    lead_ids: Sequence[int], present: frozenset[str], *, skip: str = "", spans: int = 2
) -> tuple[int, ...]:
    """The arguments of delete_ready_hopper_rows (skip=HOPPER_LEADS.key),
    delete_archived_guarded or (spans=1) delete_archived_if_dialer_idle: the lead IDs, then
    (lowest, highest lead_id) `spans` times per reason checked."""
    checked = len(_reasons(present, skip))
    return (*lead_ids, *((min(lead_ids), max(lead_ids)) * spans * checked))


@lru_cache(maxsize=512)
def delete_ready_hopper_rows(columns: tuple[str, ...], count: int, present: frozenset[str]) -> str:
    """Delete the READY hopper rows of the requested leads that the guarded delete will take:
    archived identically and in use by nothing else (no hopper row taken by the dialer, no
    call, no agent's screen, no due callback). It runs first, so the dialer cannot take such a
    row between the two statements; a row it adds in between keeps its lead (see
    delete_archived_guarded). A lead kept after all loses only READY rows, which
    AST_VDhopper.pl puts back on its next run. Arguments: guard_args(…, skip=HOPPER_LEADS.key).
    """
    same = " AND ".join(identical("l", "a", c) for c in columns)
    # STRAIGHT_JOIN: from the requested leads (a range of the primary key) to their hopper
    # rows, then to the archive: only leads with a READY row are compared column by column.
    # Read the other way, the server scans (and on InnoDB locks) the whole hopper.
    return (
        f"DELETE h FROM {LEADS} l STRAIGHT_JOIN {HOPPER} h ON h.lead_id = l.lead_id "
        f"STRAIGHT_JOIN {ARCHIVE} a ON a.lead_id = l.lead_id {_TAKEN_JOIN} "
        f"WHERE l.lead_id IN ({placeholders(count)}) AND h.status = 'READY' "
        f"AND taken.hopper_id IS NULL AND {same}{_not_in_use(present, skip=HOPPER_LEADS.key)}"
    )


@lru_cache(maxsize=512)
def delete_archived_guarded(columns: tuple[str, ...], count: int, present: frozenset[str]) -> str:
    """delete_archived, keeping every lead the dialer uses, in the same statement.

    One statement reads the dialer tables and deletes: on MyISAM it holds every table it
    names for its whole run (a lead cannot enter a call between the check and the delete);
    on InnoDB those reads are locking reads (shared locks until COMMIT); a MEMORY table is
    locked for the statement. Any hopper row keeps its lead here, READY ones too: READY rows
    of deletable leads are gone already (delete_ready_hopper_rows), so one found now was
    added since and must not be orphaned. Arguments: guard_args(…).
    """
    return delete_archived(columns, count) + _not_in_use(present)


@lru_cache(maxsize=512)
def delete_archived_if_dialer_idle(
    columns: tuple[str, ...], count: int, present: frozenset[str]
) -> str:
    """delete_archived, but only while no present reason has a row between the batch's
    lowest and highest lead_id; otherwise it deletes nothing.

    The cheap form of delete_archived_guarded for the usual batch, far from the leads the
    dialer works on: only the probes, no lookup tables to prepare. It keeps every lead the
    guarded form keeps, and more (any dialer row in the span keeps them all), with the same
    locking in one statement. Arguments: guard_args(…, spans=1).
    """
    idle = "".join(f" AND NOT EXISTS (SELECT 1 {r.rows})" for r in _reasons(present))
    return delete_archived(columns, count) + idle


_TAKEN_FROM_HOPPER = f"SELECT 1 FROM {HOPPER} t WHERE t.lead_id = l.lead_id AND t.status <> 'READY'"


@lru_cache(maxsize=512)
def count_in_use(columns: tuple[str, ...], count: int, present: frozenset[str]) -> str:
    """How many requested leads the guard kept (for the report, after the delete).

    A lead still in vicidial_list was kept for the dialer when one of the reasons holds now,
    or when its archived copy is identical: the guarded delete keeps no identical lead for
    any other reason (a READY hopper row added mid-batch, a call since ended).
    """
    same = " AND ".join(identical("l", "a", c) for c in columns)
    reasons = [f"(a.lead_id IS NOT NULL AND {same})"] + [
        f"EXISTS ({_TAKEN_FROM_HOPPER if r is HOPPER_LEADS else r.names_lead})"
        for r in _reasons(present)
    ]
    return (
        f"SELECT COUNT(*) FROM {LEADS} l LEFT JOIN {ARCHIVE} a ON a.lead_id = l.lead_id "
        f"WHERE l.lead_id IN ({placeholders(count)}) AND ({' OR '.join(reasons)})"
    )


@lru_cache(maxsize=512)
def sweep_hopper(count: int) -> str:
    """After a batch's COMMIT: delete the hopper rows of requested leads that are no longer
    in vicidial_list (arguments: the batch's lead IDs).

    The guarded delete keeps a lead that has a hopper row when it runs; a row the dialer
    writes after that names a lead the batch may have deleted: on MEMORY (or MyISAM) dialer
    tables nothing makes the dialer wait for the COMMIT. Such a row is gone once this runs.
    One HASH (or B-tree) lookup per ID in the hopper, one primary-key lookup per row found.
    """
    return (
        f"DELETE h FROM {HOPPER} h LEFT JOIN {LEADS} l ON l.lead_id = h.lead_id "
        f"WHERE h.lead_id IN ({placeholders(count)}) AND l.lead_id IS NULL"
    )


# --- Verify (read-only) ---------------------------------------------------------------------

# A consistent view of both tables on InnoDB; on MyISAM each SELECT locks what it reads.
BEGIN_READ_ONLY = "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY"
COUNT_LEADS = f"SELECT COUNT(*) FROM {LEADS}"
COUNT_ARCHIVE = f"SELECT COUNT(*) FROM {ARCHIVE}"


def _all_identical(columns: Sequence[str]) -> str:
    """The safe delete's test, from the same `identical`; never NULL, so NOT works on it."""
    return " AND ".join(identical("l", "a", c) for c in columns)


# Leads archived but still in vicidial_list (a primary-key join, no comparison).
COUNT_IN_BOTH = f"SELECT COUNT(*) FROM {LEADS} l JOIN {ARCHIVE} a ON a.lead_id = l.lead_id"


# A column's EXTRA in information_schema ("on update current_timestamp()" when the server
# bumps it on every UPDATE). Arguments: table, column.
COLUMN_EXTRA = """
SELECT EXTRA FROM information_schema.COLUMNS
WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s AND COLUMN_NAME = %s
"""
# What the dialer changes on every call it places: when modify_date does not move by itself,
# a later value here tells that vicidial_list changed after the lead was archived.
CALL_COLUMNS = ("last_local_call_time", "called_count")


def changed_after_archiving(columns: Sequence[str], modify_date_moves: bool) -> str:
    """TRUE (never NULL) where vicidial_list's row (l) changed after its copy (a) was made:
    a later modify_date, or, when modify_date does not move on UPDATE, a later call."""
    signals = [f"l.{c} > a.{c}" for c in ("modify_date",) if c in columns]
    if not modify_date_moves:
        signals += [f"l.{quote(c)} > a.{quote(c)}" for c in CALL_COLUMNS if c in columns]
    return f"COALESCE({' OR '.join(signals)}, FALSE)" if signals else "FALSE"


def differing_leads(columns: Sequence[str], limit: int, later: str) -> str:
    """One pass: the lowest `limit` lead IDs in both tables with different data, each row
    carrying how many differ in all and how many of those vicidial_list changed after they
    were archived (`later`, from changed_after_archiving; the windows count before LIMIT
    cuts)."""
    return (
        f"SELECT l.lead_id, COUNT(*) OVER (), SUM({later}) OVER () FROM {LEADS} l "
        f"JOIN {ARCHIVE} a ON a.lead_id = l.lead_id WHERE NOT ({_all_identical(columns)}) "
        f"ORDER BY {later}, l.lead_id LIMIT {max(int(limit), 1)}"  # unexplained ones first
    )


# --- Bulk selection (lead-archive archive) ---------------------------------------------------
# The same cut-offs as Vicidial's ADMIN_archive_leads.pl, read page by page (keyset pagination
# on the primary key) so that no run ever holds more than one page of lead IDs.


def campaign_lists(count: int) -> str:
    """The lists of `count` campaigns, picked as ADMIN_archive_leads.pl does (active Y or N)."""
    return (
        f"SELECT list_id FROM {LISTS} WHERE active IN ('Y','N') "
        f"AND campaign_id IN ({placeholders(count)}) ORDER BY list_id"
    )


# Every list, as ADMIN_archive_leads.pl reads --campaigns=---ALL--- (active Y or N).
ALL_LISTS = f"SELECT list_id FROM {LISTS} WHERE active IN ('Y','N') ORDER BY list_id"


class LeadFilter(NamedTuple):
    """A WHERE fragment over vicidial_list (empty, or starting with AND) and its arguments."""

    clause: str
    args: tuple[object, ...]


def _lead_table(table: str) -> str:
    if table not in (LEADS, ARCHIVE):
        raise ValueError(f"not a lead table: {table}")
    return table


def count_selected(where: LeadFilter, table: str = LEADS) -> str:
    """How many leads a selection holds now (arguments: the filter's)."""
    return f"SELECT COUNT(*) FROM {_lead_table(table)} WHERE lead_id > 0{where.clause}"


def select_page(where: LeadFilter, table: str = LEADS) -> str:
    """The next page of selected lead IDs (arguments: last lead_id, the filter's, page size)."""
    return (
        f"SELECT lead_id FROM {_lead_table(table)} WHERE lead_id > %s{where.clause} "
        "ORDER BY lead_id LIMIT %s"
    )


def leads_present(table: str, count: int) -> str:
    """Which of `count` lead IDs a table holds (table: LEADS or ARCHIVE)."""
    return f"SELECT lead_id FROM {_lead_table(table)} WHERE lead_id IN ({placeholders(count)})"


def survey_leads(columns: Sequence[str], count: int, flow: Flow = ARCHIVING) -> str:
    """For each requested lead in the source: in the target already? identical? (read-only)."""
    s, t = flow.aliases
    same = " AND ".join(identical("l", "a", c) for c in columns)
    return (
        f"SELECT {s}.lead_id, {t}.lead_id IS NOT NULL, {t}.lead_id IS NOT NULL AND {same} "
        f"FROM {flow.source} {s} LEFT JOIN {flow.target} {t} ON {t}.lead_id = {s}.lead_id "
        f"WHERE {s}.lead_id IN ({placeholders(count)})"
    )


def optimize_table(table: str) -> str:
    """Rebuild a lead table after a bulk run (on MyISAM it locks the table meanwhile)."""
    return f"OPTIMIZE TABLE {_lead_table(table)}"


TABLE_ENGINE = """
SELECT ENGINE FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s
"""

# --- Replica lag (lead-archive archive/restore --max-replica-lag) -----------------------------

# MariaDB 10.5.1+ and MySQL 8.0.22+ know the first; older servers only the second.
SHOW_REPLICA_STATUS = ("SHOW REPLICA STATUS", "SHOW SLAVE STATUS")

# --- API keys -------------------------------------------------------------------------------

# The columns added since the first release, as `db init` adds them to an older table
# (ALTER TABLE … ADD, each only when missing). A key made before scopes keeps both: the
# DEFAULT fills them in. Times are UTC (UTC_TIMESTAMP()), so expiry does not move with the
# server's zone: expires_at is the first moment the key is refused.
KEY_SCOPE_SET = "SET(" + ",".join(f"'{scope.value}'" for scope in SCOPES) + ")"
KEY_COLUMNS_ADDED: tuple[tuple[str, str], ...] = (
    ("scopes", f"{KEY_SCOPE_SET} NOT NULL DEFAULT '{','.join(SCOPES)}'"),
    ("expires_at", "DATETIME NULL COMMENT 'UTC; refused from then on'"),
    ("last_used_at", "DATETIME NULL COMMENT 'UTC'"),
    ("last_used_from", "VARCHAR(64) NULL"),
)
_ADDED = "".join(f"  {name} {definition},\n" for name, definition in KEY_COLUMNS_ADDED)
CREATE_KEYS = f"""
CREATE TABLE IF NOT EXISTS {KEYS} (
  key_id INT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  api_user VARCHAR(20) NOT NULL,
  key_hash CHAR(64) CHARACTER SET ascii NOT NULL,
  created_at DATETIME NOT NULL,
  revoked_at DATETIME NULL,
{_ADDED}  UNIQUE KEY key_hash (key_hash)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
"""
# The key table's column names (none: no table).
KEY_TABLE_COLUMNS = f"""
SELECT COLUMN_NAME FROM information_schema.COLUMNS
WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '{KEYS}'
"""


def add_key_columns(names: Sequence[str]) -> str:
    """One ALTER TABLE adding the named KEY_COLUMNS_ADDED to an older key table."""
    definitions = dict(KEY_COLUMNS_ADDED)
    return f"ALTER TABLE {KEYS} " + ", ".join(f"ADD COLUMN {n} {definitions[n]}" for n in names)


# A key works while it is not revoked and not past its expiry.
_LIVE = "revoked_at IS NULL AND (expires_at IS NULL OR expires_at > UTC_TIMESTAMP())"
# Arguments: user, hash, scopes (comma-separated), then the expiry: a UTC time, else seconds
# from now (both NULL: never).
INSERT_KEY = f"""
INSERT INTO {KEYS} (api_user, key_hash, created_at, scopes, expires_at)
VALUES (%s, %s, NOW(), %s, IFNULL(%s, UTC_TIMESTAMP() + INTERVAL %s SECOND))
"""
LAST_INSERT_ID = "SELECT LAST_INSERT_ID()"
SELECT_LIVE_KEY = f"SELECT key_id, api_user, scopes FROM {KEYS} WHERE key_hash = %s AND {_LIVE}"
SELECT_LIVE_KEY_HASHES = f"SELECT key_hash FROM {KEYS} WHERE {_LIVE}"
# Every key, with whether it has expired and whether it expires within %s seconds.
SELECT_KEYS = f"""
SELECT key_id, api_user, created_at, revoked_at, scopes, expires_at, last_used_at,
  last_used_from, expires_at <= UTC_TIMESTAMP(),
  expires_at > UTC_TIMESTAMP() AND expires_at <= UTC_TIMESTAMP() + INTERVAL %s SECOND
FROM {KEYS} ORDER BY key_id
"""
SELECT_LIVE_KEY_USER = f"SELECT api_user FROM {KEYS} WHERE key_id = %s AND {_LIVE} FOR UPDATE"
REVOKE_KEY = f"UPDATE {KEYS} SET revoked_at = NOW() WHERE key_id = %s AND {_LIVE}"
SELECT_LIVE_USER_KEYS = f"SELECT key_id FROM {KEYS} WHERE api_user = %s AND {_LIVE} FOR UPDATE"
REVOKE_USER_KEYS = f"UPDATE {KEYS} SET revoked_at = NOW() WHERE api_user = %s AND {_LIVE}"
# Rotation, in one transaction: the old key (locked), then its end after the grace period
# (%s seconds, twice; never later than an expiry it had already).
SELECT_KEY_TO_ROTATE = (
    f"SELECT api_user, scopes FROM {KEYS} WHERE key_id = %s AND {_LIVE} FOR UPDATE"
)
END_KEY_AFTER_GRACE = f"""
UPDATE {KEYS} SET expires_at = LEAST(IFNULL(expires_at, UTC_TIMESTAMP() + INTERVAL %s SECOND),
  UTC_TIMESTAMP() + INTERVAL %s SECOND) WHERE key_id = %s
"""
SELECT_KEY_EXPIRY = f"SELECT expires_at FROM {KEYS} WHERE key_id = %s"
# A key's last use, written by the service's flush (at most one per key per flush): never
# back in time (two servers on one database each flush their own).
RECORD_KEY_USE = f"""
UPDATE {KEYS} SET last_used_at = %s, last_used_from = %s
WHERE key_id = %s AND (last_used_at IS NULL OR last_used_at <= %s)
"""


def key_event_outline(action: str, key_id: int) -> str:
    """What a key command did, in outline, for the admin log's event_sql (no hash)."""
    insert = f"INSERT INTO {KEYS} (api_user, key_hash, created_at, scopes, expires_at)"
    statements = {
        "create": insert,
        "revoke": f"UPDATE {KEYS} SET revoked_at = NOW() WHERE key_id = {int(key_id)}",
        "rotate": f"{insert}|UPDATE {KEYS} SET expires_at = <end of grace> "
        f"WHERE key_id = {int(key_id)}",
    }
    return statements[action] + "|"


# --- Vicidial call times and the dialer's schedule (CONTRACT 7 and 9) ------------------------

CALL_TIMES = "vicidial_call_times"
CALL_TIME_HOLIDAYS = "vicidial_call_time_holidays"
CAMPAIGNS = "vicidial_campaigns"
SELECT_CALL_TIME = f"SELECT * FROM {CALL_TIMES} WHERE call_time_id = %s"
CALL_TIME_EXISTS = f"SELECT COUNT(*) FROM {CALL_TIMES} WHERE call_time_id = %s"
# Every column: holiday_method exists only since Vicidial 2.14 build 240227 (REPLACE if absent).
SELECT_CALL_TIME_HOLIDAYS = f"SELECT * FROM {CALL_TIME_HOLIDAYS} WHERE holiday_status = 'ACTIVE'"
SELECT_CALL_TIMES = f"SELECT * FROM {CALL_TIMES}"

# The database server's clock: the zone new sessions get (@@global.time_zone, a name or
# SYSTEM), and how many minutes it is ahead of UTC now (NOW() of such a session against
# UTC_TIMESTAMP()).
DATABASE_CLOCK = (
    "SELECT @@global.time_zone, TIMESTAMPDIFF(MINUTE, UTC_TIMESTAMP(), "
    "IFNULL(CONVERT_TZ(UTC_TIMESTAMP(), '+00:00', @@global.time_zone), NOW()))"
)

# The lists the hopper dials from (it dials no other).
ACTIVE_LISTS = f"SELECT list_id, campaign_id, local_call_time FROM {LISTS} WHERE active = 'Y'"
ACTIVE_CAMPAIGNS = f"SELECT campaign_id, local_call_time FROM {CAMPAIGNS} WHERE active = 'Y'"
# Whether an agent is logged in or a call is up.
DIALER_BUSY = f"SELECT EXISTS (SELECT 1 FROM {LIVE_AGENTS}) OR EXISTS (SELECT 1 FROM {AUTO_CALLS})"
# What LEAD_ARCHIVE_OFFICE_HOURS=dialer reads, all of it Vicidial's own.
DIALER_SCHEDULE_TABLES = (LIVE_AGENTS, AUTO_CALLS, CAMPAIGNS, LISTS, CALL_TIMES, CALL_TIME_HOLIDAYS)


@lru_cache(maxsize=64)
def lead_offsets_of_lists(count: int) -> str:
    """The distinct gmt_offset_now of each of `count` lists, one statement (and result set)
    each: on MyISAM each holds vicidial_list's read lock for one list's leads only."""
    return "; ".join([f"SELECT DISTINCT gmt_offset_now FROM {LEADS} WHERE list_id = %s"] * count)


@lru_cache(maxsize=64)
def lead_offsets_grouped(count: int) -> str:
    """(list_id, gmt_offset_now) of `count` lists in one statement: InnoDB reads it without
    locks, and the optimizer makes it one pass over the table when the lists hold many of its
    leads (on 1,000,000 leads, half of them in the lists: 0.9 s, against 5.8 s by index)."""
    return (
        f"SELECT list_id, gmt_offset_now FROM {LEADS} WHERE list_id IN ({placeholders(count)}) "
        "GROUP BY list_id, gmt_offset_now"
    )


# --- Demo database --------------------------------------------------------------------------


def drop_database(name: str) -> str:
    """Drop a scratch database (the demo's, a test's or a benchmark's; never Vicidial's)."""
    return f"DROP DATABASE IF EXISTS {quote(name)}"


def create_database(name: str) -> str:
    """Create a scratch database."""
    return f"CREATE DATABASE {quote(name)} CHARACTER SET utf8mb4"


# The demo marks each database it creates with this table, and resets only a marked one.
DEMO_MARKER = "lead_archive_demo_marker"
DATABASE_EXISTS = "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s"
TABLE_IN_DATABASE = """
SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s
"""


def create_demo_marker(database: str) -> str:
    """The marker table that says: the demo created this database and may reset it."""
    return (
        f"CREATE TABLE {quote(database)}.{DEMO_MARKER} (created_at DATETIME NOT NULL, "
        "note VARCHAR(100) NOT NULL) ENGINE=MyISAM"
    )


def insert_demo_marker(database: str) -> str:
    """One row telling an admin who made the database."""
    return (
        f"INSERT INTO {quote(database)}.{DEMO_MARKER} VALUES "
        "(NOW(), 'created by lead-archive demo; safe to drop')"
    )


def insert_demo_leads(count: int) -> str:
    """Insert `count` dummy leads; 8 values each (list, vendor code … comments)."""
    row = "(NOW(), 'NEW', %s, %s, %s, '1', %s, %s, %s, %s, %s)"
    return (
        f"INSERT INTO {LEADS} (entry_date, status, list_id, vendor_lead_code, source_id, "
        "phone_code, phone_number, first_name, last_name, city, comments) VALUES "
        + ", ".join([row] * count)
    )


SELECT_LIST_LEADS = f"SELECT lead_id FROM {LEADS} WHERE list_id = %s ORDER BY lead_id"

# --- Vicidial admin log (audit) -------------------------------------------------------------

ADMIN_LOG = "vicidial_admin_log"
# The section of a batch's rows (Vicidial's own for leads), and of the key commands' rows.
LEADS_SECTION = "LEADS"
KEYS_SECTION = "ARCHIVE_API_KEYS"


def insert_admin_log(section: str) -> str:
    """One row of `section` (arguments: user, ip_address, event_type, record_id, event_code,
    event_sql, event_notes)."""
    if section not in (LEADS_SECTION, KEYS_SECTION):
        raise ValueError(f"not an admin log section of ours: {section}")
    return f"""
INSERT INTO {ADMIN_LOG}
  (event_date, user, ip_address, event_section, event_type, record_id, event_code,
   event_sql, event_notes)
VALUES (NOW(), %s, %s, '{section}', %s, %s, %s, %s, %s)
"""


# Vicidial's own admin pages write their LEADS events the same way (admin_modify_lead.php).
INSERT_ADMIN_LOG = insert_admin_log(LEADS_SECTION)
INSERT_KEYS_ADMIN_LOG = insert_admin_log(KEYS_SECTION)


def within(seconds: float, statement: str) -> str:
    """The statement, stopped by the server after `seconds` (waits for locks included)."""
    return f"SET STATEMENT max_statement_time = {float(seconds):g} FOR {statement.strip()}"


@lru_cache(maxsize=512)
def waiting_at_most(seconds: int, statement: str) -> str:
    """The statement, refused with a lock-wait timeout (1205) when a table lock (MEMORY,
    MyISAM) or metadata lock takes longer than `seconds` to get."""
    return f"SET STATEMENT lock_wait_timeout = {int(seconds)} FOR {statement.strip()}"


def audit_outline(lead_ids: Sequence[int], insert: bool, update: bool, delete: bool) -> str:
    """The batch's statements in outline, `|`-separated as Vicidial writes event_sql.

    Column lists are left out (`*`, "every column"): they are read from information_schema
    on every batch and would make each row several kilobytes longer.
    """
    ids = ",".join(map(str, map(int, lead_ids)))
    statements = []
    if insert:
        statements.append(
            f"INSERT INTO {ARCHIVE} SELECT * FROM {LEADS} WHERE lead_id IN ({ids}) "
            f"AND lead_id NOT IN (SELECT lead_id FROM {ARCHIVE})"
        )
    if update:
        statements.append(
            f"UPDATE {ARCHIVE} a JOIN {LEADS} l ON l.lead_id = a.lead_id "
            f"SET a.* = l.* WHERE a.lead_id IN ({ids})"
        )
    if delete:
        statements.append(
            f"DELETE l FROM {LEADS} l JOIN {ARCHIVE} a ON a.lead_id = l.lead_id "
            f"WHERE l.lead_id IN ({ids}) AND every column of l is identical to a"
        )
    return "".join(statement + "|" for statement in statements)


def restore_outline(lead_ids: Sequence[int]) -> str:
    """A restore batch's statements in outline, as audit_outline writes an archive batch's."""
    ids = ",".join(map(str, map(int, lead_ids)))
    return (
        f"INSERT INTO {LEADS} SELECT * FROM {ARCHIVE} WHERE lead_id IN ({ids}) "
        f"AND lead_id NOT IN (SELECT lead_id FROM {LEADS})|"
        f"DELETE a FROM {ARCHIVE} a JOIN {LEADS} l ON l.lead_id = a.lead_id "
        f"WHERE a.lead_id IN ({ids}) AND every column of a is identical to l|"
    )


PING = "SELECT 1"
