"""The JSON side of the contract that the shim owns (CONTRACT.md section 2, items 3 and 4.1-4.4)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lead_archive_client.vocabulary import INT64_MAX, INT64_MIN
from lead_archive_rest_shim import messages, translate
from lead_archive_rest_shim.translate import (
    ArchivePlan,
    BodyError,
    JsonValue,
    RawNumber,
    auth_metadata,
    is_integer,
    parse_body,
    plan_archive,
    render_json,
    restore_lead_ids,
    split_lead_ids,
    success_body,
    to_int64,
)
from vicidial.leads.v1 import lead_archive_pb2 as pb

VALID_FLAGS = '"insert_leads": true, "update_leads": false, "delete_leads": true'


def plan_of(text: str) -> ArchivePlan:
    return plan_archive(parse_body(text.encode()))


# --- item 3: a body that is not a JSON object -------------------------------------------


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b"", "Expecting value: line 1 column 1 (char 0)"),
        (b"{", "line 1 column 2"),
        (b'{"lead_ids": [1, s]}', "line 1 column 18"),
        (b'{\n  "insert_leads": true,\n  "lead_ids": [1 2]\n}', "line 3 column 18"),
        (b"{'a': 1}", "Expecting property name enclosed in double quotes"),
        (b'{"a": 1} x', "Extra data"),
        (b'{"a": NaN}', "NaN is not a JSON value"),
        (b'{"a": Infinity}', "Infinity is not a JSON value"),
        (b'{"a": [-Infinity]}', "-Infinity is not a JSON value"),
        (b'{"a": "\xff"}', "not UTF-8"),
        (b"[" * 100_000, "nested too deeply"),
    ],
)
def test_unparseable_body_says_what_is_wrong(raw: bytes, fragment: str) -> None:
    with pytest.raises(BodyError) as caught:
        parse_body(raw)
    assert fragment in caught.value.message
    assert "Traceback" not in caught.value.message


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        (b"[]", "an array"),
        (b"[1, 2]", "an array"),
        (b'"text"', "a string"),
        (b"1", "a number"),
        (b"1.5", "a number"),
        (b"true", "a boolean"),
        (b"null", "null"),
    ],
)
def test_json_that_is_not_an_object_is_a_body_error(raw: bytes, kind: str) -> None:
    with pytest.raises(BodyError) as caught:
        parse_body(raw)
    assert caught.value.message == messages.BODY_NOT_OBJECT.format(kind=kind)


def test_body_object_is_parsed_with_floats_kept_as_sent() -> None:
    body = parse_body(b'\xef\xbb\xbf{"lead_ids": [1, 1.0, 1e3, -0.5E-2], "x": {"y": null}}')
    assert body == {
        "lead_ids": [1, RawNumber("1.0"), RawNumber("1e3"), RawNumber("-0.5E-2")],
        "x": {"y": None},
    }


def test_integer_beyond_the_digit_limit_stays_an_integer() -> None:
    digits = "9" * 5000
    body = parse_body(f'{{"lead_ids": [{digits}]}}'.encode())
    assert body == {"lead_ids": [RawNumber(digits, integral=True)]}


# --- items 4.1-4.3: flags are set only for real JSON booleans ---------------------------


@pytest.mark.parametrize("value", ["true", "false"])
def test_boolean_flags_are_set(value: str) -> None:
    plan = plan_of(
        f'{{"insert_leads": {value}, "update_leads": {value}, "delete_leads": {value}, '
        '"lead_ids": [1]}'
    )
    expected = value == "true"
    assert plan.request.HasField("insert_leads")
    assert plan.request.HasField("update_leads")
    assert plan.request.HasField("delete_leads")
    assert plan.request.insert_leads is expected
    assert plan.request.update_leads is expected
    assert plan.request.delete_leads is expected
    assert plan.flags_valid


@pytest.mark.parametrize("flag", ["insert_leads", "update_leads", "delete_leads"])
@pytest.mark.parametrize("value", ["1", "0", '"true"', "null", "[]", "{}", "1.0", None])
def test_a_flag_that_is_not_a_boolean_is_left_unset(flag: str, value: str | None) -> None:
    fields = {"insert_leads": "true", "update_leads": "true", "delete_leads": "true"}
    if value is None:
        del fields[flag]
    else:
        fields[flag] = value
    text = "{" + ", ".join(f'"{k}": {v}' for k, v in fields.items()) + ', "lead_ids": [1]}'
    plan = plan_of(text)
    assert not plan.request.HasField(flag)
    assert not plan.flags_valid
    others = {"insert_leads", "update_leads", "delete_leads"} - {flag}
    assert all(plan.request.HasField(other) for other in others)


def test_unknown_fields_are_ignored() -> None:
    plan = plan_of(f'{{{VALID_FLAGS}, "lead_ids": [1, 2], "comment": "x", "extra": [1.5]}}')
    assert list(plan.request.lead_ids) == [1, 2]
    assert plan.not_integers == ()
    assert plan.flags_valid


# --- item 4.4: lead_ids elements that are not JSON integers -----------------------------


def test_offending_elements_are_kept_in_request_order_as_sent() -> None:
    plan = plan_of(
        f'{{{VALID_FLAGS}, "lead_ids": [1, "0", 1.0, 2, 1e3, 1.5, true, false, null, '
        '{"a": 1}, [3], -0.0]}'
    )
    assert plan.not_integers == (
        "0",
        RawNumber("1.0"),
        RawNumber("1e3"),
        RawNumber("1.5"),
        True,
        False,
        None,
        {"a": 1},
        [3],
        RawNumber("-0.0"),
    )
    assert list(plan.request.lead_ids) == [1, 2]
    assert render_json(list(plan.not_integers)) == (
        b'["0",1.0,1e3,1.5,true,false,null,{"a":1},[3],-0.0]'
    )


@pytest.mark.parametrize(
    ("value", "offending"),
    [
        ('"1, 2"', ["1, 2"]),
        ("5", [5]),
        ("1.5", [RawNumber("1.5")]),
        ('{"a": 1}', [{"a": 1}]),
        ("true", [True]),
        ("false", [False]),
    ],
)
def test_lead_ids_that_is_not_an_array_is_one_offending_element(
    value: str, offending: list[object]
) -> None:
    plan = plan_of(f'{{{VALID_FLAGS}, "lead_ids": {value}}}')
    assert list(plan.not_integers) == offending
    assert list(plan.request.lead_ids) == []


@pytest.mark.parametrize("lead_ids", ['"lead_ids": null', '"lead_ids": []', '"x": 1'])
def test_missing_null_or_empty_lead_ids_is_an_empty_list(lead_ids: str) -> None:
    plan = plan_of(f"{{{VALID_FLAGS}, {lead_ids}}}")
    assert plan.not_integers == ()
    assert list(plan.request.lead_ids) == []


def test_split_lead_ids_accepts_only_integers() -> None:
    huge = RawNumber("9" * 5000, integral=True)
    integers, offending = split_lead_ids([0, -1, 2**70, True, RawNumber("1.0"), huge, "7"])
    assert integers == [0, -1, 2**70, huge]
    assert offending == [True, RawNumber("1.0"), "7"]


# --- item 4.8: integers no lead can have travel as sentinels ----------------------------


def test_int64_values_pass_unchanged() -> None:
    values = [0, 1, -1, INT64_MAX, INT64_MIN, 42]
    wire, sentinels = to_int64(values)
    assert wire == values
    assert sentinels == {}


def test_out_of_range_integers_become_unused_negative_sentinels() -> None:
    big, bigger, tiny = 2**64 + 1, 2**200, INT64_MIN - 1
    wire, sentinels = to_int64([-1, big, 5, bigger, INT64_MAX + 1, tiny, -3])
    # -1 and -3 are taken by the request itself, so the sentinels skip them.
    assert wire == [-1, -2, 5, -4, -5, -6, -3]
    assert sentinels == {-2: big, -4: bigger, -5: INT64_MAX + 1, -6: tiny}
    assert all(INT64_MIN <= value <= INT64_MAX for value in wire)
    assert len(set(wire)) == len(wire)


def test_equal_out_of_range_integers_share_a_sentinel() -> None:
    huge = RawNumber("9" * 5000, integral=True)
    wire, sentinels = to_int64([2**70, 1, 2**70, huge, RawNumber("9" * 5000, integral=True)])
    assert wire == [-1, 1, -1, -2, -2]
    assert sentinels == {-1: 2**70, -2: huge}


def test_sentinels_map_back_to_what_the_client_sent() -> None:
    plan = plan_of(f'{{{VALID_FLAGS}, "lead_ids": [3, 18446744073709551617, -7, 3]}}')
    assert list(plan.request.lead_ids) == [3, -1, -7, 3]
    assert plan.restore([-1, -7, 3]) == [18446744073709551617, -7, 3]
    assert restore_lead_ids([-1, -2], {-1: 2**64}) == [2**64, -2]
    assert render_json(plan.restore([-1])) == b"[18446744073709551617]"


def test_the_request_is_always_encodable() -> None:
    plan = plan_of(f'{{{VALID_FLAGS}, "lead_ids": [{2**64}, {-(2**64)}, {"9" * 5000}, 1]}}')
    encoded = plan.request.SerializeToString()
    assert list(pb.ArchiveLeadsRequest.FromString(encoded).lead_ids) == [-1, -2, -3, 1]


# --- the rest: metadata, bodies, rendering ----------------------------------------------


@pytest.mark.parametrize(
    ("header", "metadata"),
    [
        (None, ()),
        ("Key=abc", (("authorization", "Key=abc"),)),
        ("key=abc", (("authorization", "key=abc"),)),
        ("", (("authorization", ""),)),
        ("Bearer x y", (("authorization", "Bearer x y"),)),
        ("Key=\u00e9", ()),
        ("Key=a\tb", ()),
    ],
)
def test_authorization_is_forwarded_unchanged_when_grpc_can_carry_it(
    header: str | None, metadata: tuple[tuple[str, str], ...]
) -> None:
    assert auth_metadata(header) == metadata


def test_success_body_has_exactly_the_documented_fields() -> None:
    response = pb.ArchiveLeadsResponse(
        message="done",
        select_count=1,
        insert_count=2,
        update_count=3,
        delete_count=4,
        kept_count=5,
    )
    assert success_body(response) == {
        "message": "done",
        "select_count": 1,
        "insert_count": 2,
        "update_count": 3,
        "delete_count": 4,
    }


def test_render_json_writes_valid_json() -> None:
    numbers: JsonValue = [None, True, 2**80, RawNumber("1E+2")]
    value: JsonValue = {"s": '\u00e9\ud800"\n', "n": numbers, "o": {}}
    text = render_json(value)
    assert text.isascii()
    assert json.loads(text) == {"s": '\u00e9\ud800"\n', "n": [None, True, 2**80, 100.0], "o": {}}


def test_render_json_handles_deep_nesting_iteratively() -> None:
    deep: JsonValue = 1
    for _ in range(50_000):
        deep = [deep]
    assert render_json(deep) == b"[" * 50_000 + b"1" + b"]" * 50_000


_JSON_NUMBER = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from(["1.0", "1e3", "-0", "0", "-0.5E-2", "9" * 5000, "true", "null", '"7"']),
)


@given(st.lists(_JSON_NUMBER, max_size=40))
def test_fast_paths_agree_with_the_hook_for_every_element(elements: list[int | str]) -> None:
    """Native int parsing and the all-int shortcuts give what the per-element hooks gave."""
    raw = ("[" + ",".join(str(e) for e in elements) + "]").encode()
    slow = json.loads(
        raw,
        parse_float=translate._raw_float,
        parse_int=translate._parse_int,
        parse_constant=translate._reject_constant,
    )
    assert translate._loads(raw) == slow
    integers, offending = split_lead_ids(slow)
    assert integers == [e for e in slow if is_integer(e)]
    assert offending == [e for e in slow if not is_integer(e)]
    wire, sentinels = to_int64(integers)
    assert all(INT64_MIN <= w <= INT64_MAX for w in wire)
    assert [sentinels.get(w, w) for w in wire] == integers
