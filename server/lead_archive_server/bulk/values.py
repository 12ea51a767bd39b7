"""Text the operator typed, read into values: days, lists of names, files of lead IDs."""

from __future__ import annotations

import re
from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from lead_archive_server.bulk.errors import JobError

LEAD_ID_MAX = 2**32 - 1  # vicidial_list.lead_id is INT UNSIGNED
_SEPARATORS = re.compile(r"[\s,]+")


def parse_day(text: str, *, today: date) -> date:
    """``YYYY-MM-DD``, ``today`` or ``yesterday`` (as ADMIN_archive_leads.pl reads them)."""
    word = text.strip().lower()
    if word == "today":
        return today
    if word == "yesterday":
        return today - timedelta(days=1)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", word):
        try:
            return date.fromisoformat(word)
        except ValueError:
            pass
    raise JobError(f"{text!r} is not a date: use YYYY-MM-DD, today or yesterday")


def ascii_number(text: str) -> int | None:
    """The number written in ASCII digits only, else None (int() takes '١٢' as 12)."""
    return int(text) if text.isascii() and text.isdigit() else None


def split_values(values: Iterable[str]) -> tuple[str, ...]:
    """Options given several times or comma-separated, in order, without blanks or repeats."""
    found: dict[str, None] = {}
    for value in values:
        for part in value.split(","):
            if part.strip():
                found[part.strip()] = None
    return tuple(found)


@dataclass(frozen=True)
class LeadIdList:
    """Lead IDs read from a file: sorted, distinct, and how many repeats were dropped."""

    lead_ids: array[int]
    repeats: int


def read_lead_ids(lines: Iterable[str], *, source: str) -> LeadIdList:
    """Read lead IDs separated by spaces, commas or newlines; ``#`` starts a comment.

    Raises JobError naming the line of the first value that is not a lead ID (1 to 2^32-1),
    before anything is sent.
    """
    seen: set[int] = set()
    count = 0
    for number, line in enumerate(lines, start=1):
        for token in _SEPARATORS.split(line.split("#", 1)[0].strip()):
            if not token:
                continue
            lead_id = ascii_number(token)
            if lead_id is None or not 1 <= lead_id <= LEAD_ID_MAX:
                raise JobError(f"{source}, line {number}: {token[:40]!r} is not a lead ID")
            seen.add(lead_id)
            count += 1
    return LeadIdList(array("Q", sorted(seen)), count - len(seen))
