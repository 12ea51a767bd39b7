"""Every SQL statement the service runs, as constants or small builders with %s placeholders."""

from __future__ import annotations

from collections.abc import Sequence

LEADS = "vicidial_list"
ARCHIVE = "vicidial_list_archive"
KEYS = "lead_archive_api_keys"


def quote(identifier: str) -> str:
    """Quote a column or table name read from information_schema."""
    return "`" + identifier.replace("`", "``") + "`"


def placeholders(count: int) -> str:
    """`%s,%s,…` for an IN list of `count` values."""
    return ",".join(["%s"] * count)


# --- Schema -------------------------------------------------------------------------------

# Both tables' columns in one round trip, in column order.
TABLE_COLUMNS = """
SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IFNULL(CHARACTER_SET_NAME, '')
FROM information_schema.COLUMNS
WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN (%s, %s)
ORDER BY TABLE_NAME, ORDINAL_POSITION
"""

# Vicidial's own way to create the archive (ADMIN_archive_leads.pl).
CREATE_ARCHIVE = (
    f"CREATE TABLE IF NOT EXISTS {ARCHIVE} LIKE {LEADS}",
    f"ALTER TABLE {ARCHIVE} MODIFY lead_id INT(9) UNSIGNED NOT NULL",
)

TABLE_EXISTS = """
SELECT COUNT(*) FROM information_schema.TABLES
WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s
"""

# --- Archive batch --------------------------------------------------------------------------

# One lock per database serialises batches, so overlapping batches never race on the
# archive's primary key. The server releases it if the connection dies.
ACQUIRE_BATCH_LOCK = "SELECT GET_LOCK(CONCAT('lead_archive:', DATABASE()), %s)"
RELEASE_BATCH_LOCK = "SELECT RELEASE_LOCK(CONCAT('lead_archive:', DATABASE()))"


def select_membership(count: int) -> str:
    """Which requested leads exist, and whether each is archived already."""
    return (
        f"SELECT l.lead_id, a.lead_id IS NOT NULL FROM {LEADS} l "
        f"LEFT JOIN {ARCHIVE} a ON a.lead_id = l.lead_id "
        f"WHERE l.lead_id IN ({placeholders(count)})"
    )


def insert_missing(columns: Sequence[str], count: int) -> str:
    """Copy leads that the archive did not hold (membership was read under the batch lock)."""
    names = ", ".join(quote(c) for c in columns)
    return (
        f"INSERT INTO {ARCHIVE} ({names}) SELECT {names} FROM {LEADS} "
        f"WHERE lead_id IN ({placeholders(count)})"
    )


def update_archived(columns: Sequence[str], count: int) -> str:
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


def delete_archived(columns: Sequence[str], count: int) -> str:
    """Delete requested leads whose archived copy is identical in every column."""
    same = " AND ".join(identical("l", "a", c) for c in columns)
    return (
        f"DELETE l FROM {LEADS} l JOIN {ARCHIVE} a ON a.lead_id = l.lead_id "
        f"WHERE l.lead_id IN ({placeholders(count)}) AND {same}"
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


def differing_leads(columns: Sequence[str], limit: int) -> str:
    """One pass: the lowest `limit` lead IDs in both tables with different data, each row
    carrying how many differ in all (the window counts before LIMIT cuts)."""
    return (
        f"SELECT l.lead_id, COUNT(*) OVER () FROM {LEADS} l "
        f"JOIN {ARCHIVE} a ON a.lead_id = l.lead_id WHERE NOT ({_all_identical(columns)}) "
        f"ORDER BY l.lead_id LIMIT {max(int(limit), 1)}"
    )


# --- API keys -------------------------------------------------------------------------------

CREATE_KEYS = f"""
CREATE TABLE IF NOT EXISTS {KEYS} (
  key_id INT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  api_user VARCHAR(20) NOT NULL,
  key_hash CHAR(64) CHARACTER SET ascii NOT NULL,
  created_at DATETIME NOT NULL,
  revoked_at DATETIME NULL,
  UNIQUE KEY key_hash (key_hash)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
"""
INSERT_KEY = f"INSERT INTO {KEYS} (api_user, key_hash, created_at) VALUES (%s, %s, NOW())"
SELECT_KEY_USER = f"SELECT api_user FROM {KEYS} WHERE key_hash = %s AND revoked_at IS NULL"
SELECT_KEYS = f"SELECT key_id, api_user, created_at, revoked_at FROM {KEYS} ORDER BY key_id"
REVOKE_KEY = f"UPDATE {KEYS} SET revoked_at = NOW() WHERE key_id = %s AND revoked_at IS NULL"
REVOKE_USER_KEYS = (
    f"UPDATE {KEYS} SET revoked_at = NOW() WHERE api_user = %s AND revoked_at IS NULL"
)

# --- Vicidial call times --------------------------------------------------------------------

SELECT_CALL_TIME = "SELECT * FROM vicidial_call_times WHERE call_time_id = %s"
SELECT_CALL_TIME_HOLIDAYS = """
SELECT holiday_id, holiday_date, holiday_status, ct_default_start, ct_default_stop
FROM vicidial_call_time_holidays WHERE holiday_status = 'ACTIVE'
"""

# --- Demo database --------------------------------------------------------------------------


def recreate_database(name: str) -> tuple[str, str]:
    """Drop and create a database (the demo's own, never Vicidial's)."""
    return (
        f"DROP DATABASE IF EXISTS {quote(name)}",
        f"CREATE DATABASE {quote(name)} CHARACTER SET utf8mb4",
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
