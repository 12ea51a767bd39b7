"""Metrics that move, one log line per request, and a request id both sides share."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import grpc
import httpx
import pytest
from lead_archive_server.runtime import logs
from lead_archive_server.service.metrics import MetricsServer

from tests.support import TestDb
from tests.support_ops import ops_stack, samples

HEX_ID = re.compile(r"[0-9a-f]{32}")


def sample(name: str, **labels: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return name, tuple(sorted(labels.items()))


async def test_a_batch_moves_the_counters_and_histograms(tdb: TestDb) -> None:
    ids = await tdb.seed(3)
    await tdb.copy_to_archive(ids[2:])
    await tdb.execute("UPDATE vicidial_list SET first_name = 'Jane' WHERE lead_id = %s", [ids[2]])
    async with ops_stack(tdb) as stack:
        before = await stack.scrape()
        response = await stack.post(ids, delete_leads=True)
        after = await stack.scrape()
    assert response.status_code == 200, response.text
    moved = {key: after.get(key, 0) - before.get(key, 0) for key in after}
    leads = "lead_archive_leads_total"
    assert moved[sample(leads, action="selected")] == 3
    assert moved[sample(leads, action="inserted")] == 2
    assert moved[sample(leads, action="updated")] == 1
    assert moved[sample(leads, action="deleted")] == 3
    assert moved[sample(leads, action="kept")] == 0
    ok = sample("lead_archive_grpc_requests_total", method="ArchiveLeads", outcome="OK")
    assert moved[ok] == 1
    latency = sample("lead_archive_grpc_request_duration_seconds_count", method="ArchiveLeads")
    assert moved[latency] == 1
    for phase in ("lock", "schema", "select", "insert", "update", "delete"):
        assert moved[sample("lead_archive_phase_duration_seconds_count", phase=phase)] == 1
    http = sample("lead_archive_http_requests_total", path="/vicidial/leads/archive", status="200")
    assert moved[http] == 1
    database = tdb.db.url.database
    assert after[sample("lead_archive_db_pool_connections", database=database, state="open")] >= 1
    assert sample("lead_archive_db_pool_connections", database=database, state="in_use") in after
    assert after[sample("lead_archive_db_pool_max_connections", database=database)] == 8


async def test_failures_are_counted_by_outcome(tdb: TestDb) -> None:
    ids = await tdb.seed(1)
    async with ops_stack(tdb) as stack:
        before = await stack.scrape()
        response = await stack.post([ids[0], ids[0]])
        after = await stack.scrape()
    assert response.status_code == 400
    invalid = sample(
        "lead_archive_grpc_requests_total", method="ArchiveLeads", outcome="INVALID_ARGUMENT"
    )
    assert after[invalid] - before.get(invalid, 0) == 1
    http = sample("lead_archive_http_requests_total", path="/vicidial/leads/archive", status="400")
    assert after[http] - before.get(http, 0) == 1


async def test_the_metrics_port_serves_the_same_registry() -> None:
    metrics = MetricsServer("127.0.0.1", 0)
    try:
        async with httpx.AsyncClient() as client:
            response = await client.get(f"http://127.0.0.1:{metrics.port}/metrics")
    finally:
        metrics.close()
    assert response.status_code == 200
    found = samples(response.text)
    assert sample("lead_archive_leads_total", action="deleted") in found


def test_a_taken_metrics_port_stops_start_up_with_one_line() -> None:
    from lead_archive_server.cli.serve import metrics_server
    from lead_archive_server.runtime.ports import PortUnavailable

    first = MetricsServer("127.0.0.1", 0)
    try:
        with pytest.raises(PortUnavailable, match=r"^LEAD_ARCHIVE_METRICS_PORT: cannot listen on"):
            metrics_server("127.0.0.1", first.port)
    finally:
        first.close()


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """Everything logged, rendered by the JSON formatter the service uses."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def request_lines(stream: io.StringIO) -> list[dict]:
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    return [line for line in lines if "request_id" in line]


async def test_rest_and_grpc_write_one_line_each_with_the_same_request_id(
    tdb: TestDb, json_lines: io.StringIO
) -> None:
    ids = await tdb.seed(2, first_name="Siobhán", phone_number="5551234567")
    async with ops_stack(tdb, client=("198.51.100.20", 1234)) as stack:
        response = await stack.post(ids)
        key = stack.key
    assert response.status_code == 200
    rid = response.headers["x-request-id"]
    assert HEX_ID.fullmatch(rid)
    lines = request_lines(json_lines)
    grpc_lines = [line for line in lines if line["logger"] == "server.requests"]
    rest_lines = [line for line in lines if line["logger"] == "rest_shim.requests"]
    # A key the shim has not seen accepted is asked about before the body is read, once.
    [check] = [line for line in grpc_lines if line["method"] == "CheckAccess"]
    assert (check["request_id"], check["outcome"]) == (rid, "OK")
    [served] = [line for line in grpc_lines if line["method"] == "ArchiveLeads"]
    [answered] = rest_lines
    expected = {
        "request_id": rid,
        "api_user": "6666",
        "client_ip": "198.51.100.20",
        "lead_count": 2,
        "select_count": 2,
        "insert_count": 2,
        "update_count": 0,
        "delete_count": 2,
        "kept_count": 0,
    }
    assert served.items() >= (expected | {"method": "ArchiveLeads", "outcome": "OK"}).items()
    assert answered.items() >= (expected | {"status": 200, "outcome": "ok"}).items()
    assert answered["path"] == "/vicidial/leads/archive"
    assert served["duration_ms"] >= 0 and answered["duration_ms"] >= served["duration_ms"]
    everything = json_lines.getvalue()
    for secret in (key, "Siobhán", "5551234567"):
        assert secret not in everything


async def test_a_callers_request_id_is_logged_beside_ours_and_errors_carry_it(
    tdb: TestDb, json_lines: io.StringIO
) -> None:
    async with ops_stack(tdb) as stack:
        response = await stack.post([424242], headers={"X-Request-Id": "batch-2026-11-29.7"})
        bad = await stack.post([1], headers={"X-Request-Id": "no spaces allowed; DROP"})
    assert response.status_code == 400
    ours = response.headers["x-request-id"]
    assert HEX_ID.fullmatch(ours)  # the server's own id, never the caller's
    assert HEX_ID.fullmatch(bad.headers["x-request-id"])
    lines = request_lines(json_lines)
    assert "no spaces allowed; DROP" not in json.dumps(lines)  # unsafe ids are dropped
    [served] = [
        line
        for line in lines
        if line["logger"] == "server.requests"
        and line["request_id"] == ours
        and line["method"] == "ArchiveLeads"  # after the CheckAccess of a key not seen yet
    ]
    assert served["client_request_id"] == "batch-2026-11-29.7"
    assert served["outcome"] == "INVALID_ARGUMENT"
    assert served["error"] == "lead_ids does not exist"
    assert served["lead_count"] == 1
    assert served["insert_count"] == 0


async def test_grpc_trailing_metadata_carries_the_request_id(tdb: TestDb) -> None:
    ids = await tdb.seed(1)
    async with ops_stack(tdb) as stack:
        call = stack.archive_call(ids, metadata=[("x-request-id", "from-a-grpc-client")])
        await call
        trailing = dict(await call.trailing_metadata())
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stack.archive_call(ids)  # archived already: 400
    assert HEX_ID.fullmatch(trailing["x-request-id"])  # ours; the caller's is only logged
    assert trailing["x-api-user"] == "6666"
    failed = dict(raised.value.trailing_metadata())
    assert HEX_ID.fullmatch(failed["x-request-id"])
    assert "grpc-status-details-bin" in failed  # the LeadErrors detail is still there


def test_text_lines_are_readable_key_value_pairs() -> None:
    record = logging.LogRecord("server.requests", logging.INFO, "", 0, "ArchiveLeads OK", (), None)
    record.fields = {"request_id": "abc", "api_user": "6666", "error": "lead_ids does not exist"}
    line = logs.TextFormatter().format(record)
    assert line.endswith(
        "server.requests: ArchiveLeads OK request_id=abc api_user=6666 "
        'error="lead_ids does not exist"'
    )


def test_configure_switches_the_format(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        logs.configure("json", "INFO")
        logging.getLogger("probe").info("hello", extra={"fields": {"request_id": "r1"}})
        line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
        assert (line["message"], line["request_id"], line["level"]) == ("hello", "r1", "INFO")
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
