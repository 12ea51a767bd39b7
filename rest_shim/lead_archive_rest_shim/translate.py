"""Translate between the documented JSON API and the gRPC messages: pure functions, no I/O.

The shim owns only what JSON adds to the gRPC contract: a body that is not a JSON object,
flags that are not JSON booleans (sent as unset fields, so the server reports them),
``lead_ids`` elements that are not JSON integers, and integers that do not fit the
proto's ``int64`` (sent as sentinels, so the server reports them as not existing).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeAlias, TypeGuard, cast

from lead_archive_client.vocabulary import (
    AUTHORIZATION_KEY,
    COUNT_FIELDS,
    INT64_MAX,
    INT64_MIN,
    MAX_LEADS_PER_BATCH,
    RESTORE_COUNT_FIELDS,
    printable_ascii,
)
from vicidial.leads.v1 import lead_archive_pb2

from lead_archive_rest_shim import messages


@dataclass(frozen=True, slots=True)
class RawNumber:
    """A JSON number kept as the exact text the client sent, so it is echoed back unchanged.

    Every float (``1.0``, ``1e3``, ``1.5``) is one; so is an integer too long for Python's
    ``int()`` digit limit, which has ``integral`` set.
    """

    text: str
    integral: bool = False


JsonValue: TypeAlias = (
    bool | int | str | RawNumber | list["JsonValue"] | dict[str, "JsonValue"] | None
)
# An integer the client sent: a Python int, or a RawNumber too long to become one.
JsonInteger: TypeAlias = int | RawNumber


class BodyError(ValueError):
    """The request body is not a JSON object; the message says what is wrong."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class _ConstantError(ValueError):
    """Python's json accepts NaN and Infinity; JSON does not."""


def _raw_float(text: str) -> RawNumber:
    return RawNumber(text)


def _parse_int(text: str) -> JsonInteger:
    try:
        return int(text)
    except ValueError:  # Beyond sys.get_int_max_str_digits(): still an integer.
        return RawNumber(text, integral=True)


def _reject_constant(name: str) -> None:
    raise _ConstantError(messages.BODY_CONSTANT.format(constant=name))


def _kind(value: object) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return "a number"


def _loads(raw: bytes) -> object:
    """json.loads with the shim's hooks; integers are read by the C scanner itself.

    Calling _parse_int for each of 500 lead IDs costs more than the rest of the parse. The
    scanner's own int() gives the same value whenever it succeeds; an integer too long for
    it raises ValueError, and then the body is parsed again with _parse_int.
    """
    try:
        return json.loads(raw, parse_float=_raw_float, parse_constant=_reject_constant)
    except (json.JSONDecodeError, _ConstantError):
        raise
    except ValueError:
        return json.loads(
            raw, parse_float=_raw_float, parse_int=_parse_int, parse_constant=_reject_constant
        )


def parse_body(raw: bytes) -> dict[str, JsonValue]:
    """Parse a request body that must be a JSON object, or raise BodyError saying why not."""
    try:
        value: object = _loads(raw)
    except json.JSONDecodeError as exc:
        raise BodyError(messages.BODY_NOT_JSON.format(reason=exc)) from None
    except _ConstantError as exc:
        raise BodyError(messages.BODY_NOT_JSON.format(reason=exc)) from None
    except UnicodeDecodeError as exc:
        reason = f"it is not UTF-8 text ({exc.reason} at byte {exc.start})"
        raise BodyError(messages.BODY_NOT_JSON.format(reason=reason)) from None
    except RecursionError:
        raise BodyError(messages.BODY_TOO_DEEP) from None
    if not isinstance(value, dict):
        raise BodyError(messages.BODY_NOT_OBJECT.format(kind=_kind(value)))
    body: dict[str, JsonValue] = value
    return body


def is_integer(value: JsonValue) -> TypeGuard[JsonInteger]:
    """Whether value is a JSON integer (not a boolean, not a float such as ``1.0``)."""
    return type(value) is int or (isinstance(value, RawNumber) and value.integral)


def split_lead_ids(value: JsonValue) -> tuple[list[JsonInteger], list[JsonValue]]:
    """Split ``lead_ids`` into its integers and its offending elements, both in request order.

    ``null`` (or a missing field) is an empty list; a value that is not an array is one
    offending element.
    """
    if value is None:
        return [], []
    if not isinstance(value, list):
        return [], [value]
    plain = _plain_ints(value)
    if plain is not None:  # the usual request, in one pass
        return list(plain), []
    integers: list[JsonInteger] = []
    offending: list[JsonValue] = []
    for element in value:
        if is_integer(element):
            integers.append(element)
        else:
            offending.append(element)
    return integers, offending


def _plain_ints(values: Sequence[object]) -> list[int] | None:
    """The values as a list when every one is a plain int (not bool, not RawNumber)."""
    if all(type(value) is int for value in values):
        return cast(list[int], list(values))
    return None


def _fits_int64(value: JsonInteger) -> TypeGuard[int]:
    return isinstance(value, int) and INT64_MIN <= value <= INT64_MAX


def _unused_negatives(taken: set[int]) -> Iterator[int]:
    candidate = -1
    while True:
        if candidate not in taken:
            yield candidate
        candidate -= 1


def to_int64(integers: Sequence[JsonInteger]) -> tuple[list[int], dict[int, JsonInteger]]:
    """Make every integer fit the proto's int64, returning the wire IDs and sentinel -> original.

    An integer outside int64 can never be a lead, but the proto cannot carry it. Each
    distinct one is replaced by a distinct negative int64 that the request does not
    otherwise contain: lead_id is unsigned, so the server reports the sentinel as not
    existing (or as a duplicate, since equal values share a sentinel), and the caller maps
    it back to the value the client sent.
    """
    plain = _plain_ints(integers)
    if plain is not None and (not plain or (min(plain) >= INT64_MIN and max(plain) <= INT64_MAX)):
        return plain, {}  # the usual request: every value fits, no sentinel
    taken = {value for value in integers if _fits_int64(value)}
    free = _unused_negatives(taken)
    sentinel_of: dict[JsonInteger, int] = {}
    wire: list[int] = []
    for value in integers:
        if _fits_int64(value):
            wire.append(value)
            continue
        if value not in sentinel_of:
            sentinel_of[value] = next(free)
        wire.append(sentinel_of[value])
    return wire, {sentinel: value for value, sentinel in sentinel_of.items()}


# More lead IDs than a batch may hold are answered "cannot exceed" whatever the rest say, and
# no more than one over the limit is sent: the gRPC message stays far below its size limit.
_MOST_SENT = MAX_LEADS_PER_BATCH + 1


def restore_lead_ids(
    lead_ids: Iterable[int], sentinels: Mapping[int, JsonInteger]
) -> list[JsonValue]:
    """Map sentinels in the server's lead_ids back to the integers the client sent."""
    return [sentinels.get(lead_id, lead_id) for lead_id in lead_ids]


def _flag(value: JsonValue) -> bool | None:
    """A flag is set only for a real JSON boolean; anything else is left for the server."""
    return value if isinstance(value, bool) else None


@dataclass(frozen=True, slots=True)
class ArchivePlan:
    """What the shim makes of a JSON object: the gRPC request and what only JSON can get wrong."""

    request: lead_archive_pb2.ArchiveLeadsRequest
    flags_valid: bool
    not_integers: tuple[JsonValue, ...]
    sentinels: Mapping[int, JsonInteger]

    def restore(self, lead_ids: Iterable[int]) -> list[JsonValue]:
        """Map sentinels in the server's lead_ids back to the integers the client sent."""
        return restore_lead_ids(lead_ids, self.sentinels)


def plan_archive(body: Mapping[str, JsonValue]) -> ArchivePlan:
    """Build the ArchiveLeadsRequest for a request body; unknown fields are ignored."""
    request = lead_archive_pb2.ArchiveLeadsRequest()
    insert = _flag(body.get("insert_leads"))
    update = _flag(body.get("update_leads"))
    delete = _flag(body.get("delete_leads"))
    if insert is not None:
        request.insert_leads = insert
    if update is not None:
        request.update_leads = update
    if delete is not None:
        request.delete_leads = delete
    integers, not_integers = split_lead_ids(body.get("lead_ids"))
    wire, sentinels = to_int64(integers)
    request.lead_ids.extend(wire[:_MOST_SENT])
    return ArchivePlan(
        request=request,
        flags_valid=None not in (insert, update, delete),
        not_integers=tuple(not_integers),
        sentinels=sentinels,
    )


@dataclass(frozen=True, slots=True)
class RestorePlan:
    """A restore body as the shim reads it: the gRPC request, and what only JSON gets wrong."""

    request: lead_archive_pb2.RestoreLeadsRequest
    not_integers: tuple[JsonValue, ...]
    sentinels: Mapping[int, JsonInteger]

    def restore(self, lead_ids: Iterable[int]) -> list[JsonValue]:
        """Map sentinels in the server's lead_ids back to the integers the client sent."""
        return restore_lead_ids(lead_ids, self.sentinels)


def plan_restore(body: Mapping[str, JsonValue]) -> RestorePlan:
    """Build the RestoreLeadsRequest for a body ``{"lead_ids": [...]}``; other fields ignored.

    ``lead_ids`` is read exactly as for archiving (split_lead_ids, to_int64).
    """
    integers, not_integers = split_lead_ids(body.get("lead_ids"))
    wire, sentinels = to_int64(integers)
    request = lead_archive_pb2.RestoreLeadsRequest(lead_ids=wire[:_MOST_SENT])
    return RestorePlan(request, tuple(not_integers), sentinels)


# "Key=" and a key of at most 128 characters, with room for spaces: longer is not a key.
MAX_AUTHORIZATION_CHARS = 256


def auth_metadata(authorization: str | None) -> tuple[tuple[str, str], ...]:
    """Forward the Authorization header unchanged as gRPC metadata, when it can be forwarded.

    gRPC metadata values are printable ASCII only, and bounded in size; a header that is
    absent, holds anything else, or is longer than any key can be is not sent, so the server
    answers 401 as for a missing key.
    """
    if authorization is None or len(authorization) > MAX_AUTHORIZATION_CHARS:
        return ()
    if not printable_ascii(authorization):
        return ()
    return ((AUTHORIZATION_KEY, authorization),)


def restore_success_body(response: lead_archive_pb2.RestoreLeadsResponse) -> dict[str, JsonValue]:
    """The 200 body of a restore (CONTRACT 8): exactly these four fields."""
    counts: dict[str, JsonValue] = {name: getattr(response, name) for name in RESTORE_COUNT_FIELDS}
    return {"message": response.message, **counts}


def success_body(response: lead_archive_pb2.ArchiveLeadsResponse) -> dict[str, JsonValue]:
    """The documented 200 body: exactly these five fields."""
    counts: dict[str, JsonValue] = {name: getattr(response, name) for name in COUNT_FIELDS}
    return {"message": response.message, **counts}


@dataclass(frozen=True, slots=True)
class _Text:
    """JSON text already rendered (punctuation between the parts of an array or object)."""

    text: str


def render_json(value: JsonValue) -> bytes:
    """Render a value as compact ASCII JSON, writing every RawNumber exactly as it was sent.

    Iterative, so an element nested as deeply as the parser allowed still renders.
    """
    out: list[str] = []
    stack: list[JsonValue | _Text] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, _Text | RawNumber):
            out.append(item.text)
        elif isinstance(item, list):
            parts: list[JsonValue | _Text] = [_Text("[")]
            for index, element in enumerate(item):
                if index:
                    parts.append(_Text(","))
                parts.append(element)
            parts.append(_Text("]"))
            stack.extend(reversed(parts))
        elif isinstance(item, dict):
            parts = [_Text("{")]
            for index, (key, element) in enumerate(item.items()):
                parts.append(_Text(("," if index else "") + json.dumps(key) + ":"))
                parts.append(element)
            parts.append(_Text("}"))
            stack.extend(reversed(parts))
        else:
            out.append(json.dumps(item))
    return "".join(out).encode("ascii")
