"""Property: any body and any headers get one of the documented answers, and only a 200
changes a table. hypothesis drives the real stack (shim → gRPC → MariaDB), both engines."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from lead_archive_server.access.keys import create_key

from tests.e2e.fuzz_support import assert_documented
from tests.support import LEADS, TestDb
from tests.support_shim import ENDPOINT, MONDAY_MORNING, NIGHT, Clock, in_process_stack

FLAGS = ("insert_leads", "update_leads", "delete_leads")
PRINTABLE = st.characters(min_codepoint=0x20, max_codepoint=0x7E)


@dataclass
class Fuzzed:
    app: FastAPI
    clock: Clock
    key: str
    tdb: TestDb
    ids: list[int]
    sent: int = 0


@pytest.fixture
async def fuzzed(tdb: TestDb) -> AsyncIterator[Fuzzed]:
    async with in_process_stack(tdb) as (app, clock):
        key = await create_key(tdb.db, "6666")
        yield Fuzzed(app, clock, key, tdb, await tdb.seed_many(40))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)


@st.composite
def bodies(draw: st.DrawFn, live: list[int]) -> bytes:
    """Raw bytes, any JSON, or an object shaped like a request whose fields may be anything."""
    kind = draw(st.sampled_from(["bytes", "json", "request", "request"]))
    if kind == "bytes":
        return draw(st.binary(max_size=120))
    if kind == "json":
        return json.dumps(draw(json_values)).encode()
    body: dict[str, Any] = {}
    for flag in FLAGS:  # usually a boolean, sometimes anything or missing
        if draw(st.integers(0, 19)):
            body[flag] = draw(st.booleans()) if draw(st.integers(0, 5)) else draw(json_values)
    # Indexes, not the IDs themselves: the strategy must not depend on the database's state.
    known = st.integers(0, 10**6).map(lambda i: live[i % len(live)])
    lead_id = known | st.integers() | st.integers(-(2**70), 2**70)
    existing = st.lists(known, min_size=1, max_size=8).map(lambda x: list(dict.fromkeys(x)))
    body["lead_ids"] = draw(
        existing if draw(st.booleans()) else st.lists(lead_id, max_size=8) | json_values
    )
    body.update(draw(st.dictionaries(st.text(max_size=6), json_values, max_size=2)))
    return json.dumps(body).encode()


@st.composite
def headers(draw: st.DrawFn, key: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    anything = (
        st.sampled_from([None, "Key=", f"key={key}", f"Key={key} x"])
        | st.text(PRINTABLE, max_size=40)
        | st.text(PRINTABLE, max_size=40).map(lambda s: "Key=" + s)
        | st.binary(max_size=20).filter(lambda b: b"\r" not in b and b"\n" not in b)
    )
    valid = draw(st.sampled_from(["valid", "valid", "valid", "other"])) == "valid"
    authorization = f"Key={key}" if valid else draw(anything)
    if authorization is not None:
        found["Authorization"] = authorization
    found["Content-Type"] = draw(
        st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded"])
    )
    name = draw(st.from_regex(r"X-[A-Za-z0-9-]{1,12}", fullmatch=True))
    found[name] = draw(st.text(PRINTABLE, max_size=30))
    return found


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_any_request_gets_a_documented_answer_and_only_200_writes(
    fuzzed: Fuzzed, data: st.DataObject
) -> None:
    live = sorted((await fuzzed.tdb.rows(LEADS)).keys())
    if len(live) < 10:
        fuzzed.ids = await fuzzed.tdb.seed_many(40)
        live = fuzzed.ids
    body = data.draw(bodies(live), label="body")
    sent = data.draw(headers(fuzzed.key), label="headers")
    fuzzed.clock.now = data.draw(st.sampled_from([NIGHT, NIGHT, NIGHT, MONDAY_MORNING]))
    # Each example comes from its own address, so the failed-auth limit does not trip.
    fuzzed.sent += 1
    address = f"10.{fuzzed.sent >> 16 & 255}.{fuzzed.sent >> 8 & 255}.{fuzzed.sent & 255}"
    before = await fuzzed.tdb.snapshot()
    transport = httpx.ASGITransport(app=fuzzed.app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://shim") as http:
        response = await http.post(ENDPOINT, content=body, headers=sent)
    event(f"HTTP {response.status_code}")
    assert response.headers["content-type"] == "application/json"
    assert_documented(response.status_code, response.json())
    if response.status_code != 200:
        assert await fuzzed.tdb.snapshot() == before
