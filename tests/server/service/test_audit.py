"""Every batch that changed data leaves one row in Vicidial's Admin Change Log."""

from __future__ import annotations

import logging
import time
from typing import Any

import grpc
import pytest
from lead_archive_client.networks import parse_networks
from lead_archive_server.service.audit import ARCHIVE_EVENT_CODE, AuditEntry
from lead_archive_server.service.callers import admin_log_address, client_address, peer_address

from tests.support import TestDb, admin_log
from tests.support_ops import ops_stack


async def request_id(call: Any) -> str:
    return dict(await call.trailing_metadata())["x-request-id"]


async def test_a_grpc_batch_writes_one_row_with_user_ip_and_counts(log_table: TestDb) -> None:
    ids = await log_table.seed(3)
    async with ops_stack(log_table) as stack:
        call = stack.archive_call(ids[:2])
        reply = await call
        rid = await request_id(call)
    assert (reply.insert_count, reply.delete_count) == (2, 2)
    [row] = await admin_log(log_table)
    assert row["user"] == "6666"
    assert row["ip_address"] == "127.0.0.1"
    assert (row["event_section"], row["event_type"]) == ("LEADS", "DELETE")
    assert row["record_id"] == rid
    assert row["event_code"] == ARCHIVE_EVENT_CODE
    assert row["user_group"] == "---ALL---"
    assert row["event_notes"] == (
        "select_count: 2|insert_count: 2|update_count: 0|delete_count: 2|kept_count: 0|"
        f"in_use_count: 0|lead_ids: {ids[0]},{ids[1]}"
    )
    insert = "INSERT INTO vicidial_list_archive SELECT * FROM vicidial_list WHERE lead_id IN"
    assert f"{insert} ({ids[0]},{ids[1]})" in row["event_sql"]
    assert row["event_sql"].count("|") == 3  # insert, update, delete


async def test_a_batch_that_only_wrote_the_archive_is_a_modify(log_table: TestDb) -> None:
    ids = await log_table.seed(2)
    async with ops_stack(log_table) as stack:
        await stack.archive_call(ids, delete_leads=False)
    [row] = await admin_log(log_table)
    assert row["event_type"] == "MODIFY"
    assert "insert_count: 2|update_count: 0|delete_count: 0" in row["event_notes"]
    assert "DELETE" not in row["event_sql"]


async def test_batches_that_changed_nothing_or_failed_write_no_row(log_table: TestDb) -> None:
    ids = await log_table.seed(2)
    await log_table.copy_to_archive(ids)  # identical copies: nothing to insert or update
    async with ops_stack(log_table) as stack:
        reply = await stack.archive_call(ids, delete_leads=False)
        assert (reply.insert_count, reply.update_count, reply.delete_count) == (0, 0, 0)
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stack.archive_call([ids[0], 999_999])
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        response = await stack.post(ids, headers={"Authorization": "Key=not-a-valid-key-at-all"})
        assert response.status_code == 401
    assert await admin_log(log_table) == []


async def test_rest_batches_carry_the_http_clients_address(log_table: TestDb) -> None:
    ids = await log_table.seed(1)
    async with ops_stack(log_table, client=("203.0.113.9", 41000)) as stack:
        response = await stack.post(ids)
    assert response.status_code == 200, response.text
    [row] = await admin_log(log_table)
    assert (row["user"], row["ip_address"]) == ("6666", "203.0.113.9")
    assert row["record_id"] == response.headers["x-request-id"]


async def test_long_ipv6_addresses_are_cut_to_fit_and_kept_whole_in_the_notes(
    log_table: TestDb,
) -> None:
    ids = await log_table.seed(1)
    address = "2001:db8:85a3::8a2e:370:7334"
    async with ops_stack(log_table, client=(address, 41000)) as stack:
        assert (await stack.post(ids)).status_code == 200
    [row] = await admin_log(log_table)
    assert row["ip_address"] == "2001:db8:85a3::"
    assert row["event_notes"].endswith(f"|client_ip: {address}")


async def test_forwarded_addresses_are_believed_only_from_trusted_proxies(
    log_table: TestDb,
) -> None:
    ids = await log_table.seed(2)
    spoof = [("x-forwarded-for", "198.51.100.1")]
    async with ops_stack(log_table, trusted_proxies="") as stack:
        await stack.archive_call(ids[:1], metadata=spoof)
    async with ops_stack(log_table, trusted_proxies="127.0.0.1") as stack:
        await stack.archive_call(ids[1:], metadata=spoof)
    assert [row["ip_address"] for row in await admin_log(log_table)] == [
        "127.0.0.1",
        "198.51.100.1",
    ]


async def test_no_proxy_is_trusted_by_default(log_table: TestDb) -> None:
    ids = await log_table.seed(1)
    async with ops_stack(log_table) as stack:
        await stack.archive_call(ids, metadata=[("x-forwarded-for", "198.51.100.1")])
    assert [row["ip_address"] for row in await admin_log(log_table)] == ["127.0.0.1"]


async def test_a_client_sent_request_id_never_becomes_the_record_id(
    log_table: TestDb, caplog: pytest.LogCaptureFixture
) -> None:
    ids = await log_table.seed(2)
    caplog.set_level(logging.INFO)
    async with ops_stack(log_table) as stack:
        await stack.archive_call(ids[:1], metadata=[("x-request-id", "grpc-client-id")])
        response = await stack.post(ids[1:], headers={"X-Request-Id": "rest-id"})
    assert response.status_code == 200, response.text
    rows = await admin_log(log_table)
    assert [row["record_id"] for row in rows][1] == response.headers["x-request-id"]
    assert not {"grpc-client-id", "rest-id"} & {row["record_id"] for row in rows}
    logged = [getattr(r, "fields", {}) for r in caplog.records]
    by_client_id = {f.get("client_request_id"): f["request_id"] for f in logged if f}
    assert by_client_id["grpc-client-id"] == rows[0]["record_id"]
    assert by_client_id["rest-id"] == rows[1]["record_id"]


async def test_audit_can_be_switched_off(log_table: TestDb) -> None:
    ids = await log_table.seed(1)
    async with ops_stack(log_table, audit=False) as stack:
        assert (await stack.archive_call(ids)).delete_count == 1
    assert await admin_log(log_table) == []


async def test_no_admin_log_table_means_no_audit_and_no_error(log_table: TestDb) -> None:
    ids = await log_table.seed(1)
    await log_table.execute("DROP TABLE vicidial_admin_log")
    async with ops_stack(log_table) as stack:
        before = await stack.scrape()
        assert (await stack.archive_call(ids)).delete_count == 1
        after = await stack.scrape()
    skipped = ("lead_archive_audit_rows_total", (("outcome", "skipped"),))
    assert after[skipped] == before.get(skipped, 0) + 1


async def test_a_broken_admin_log_never_fails_a_batch(log_table: TestDb) -> None:
    ids = await log_table.seed(1)
    await log_table.execute("ALTER TABLE vicidial_admin_log DROP COLUMN event_notes")
    async with ops_stack(log_table) as stack:
        before = await stack.scrape()
        reply = await stack.archive_call(ids)
        after = await stack.scrape()
    assert reply.delete_count == 1
    assert await log_table.count("vicidial_list_archive") == 1
    failed = ("lead_archive_audit_rows_total", (("outcome", "failed"),))
    assert after[failed] == before[failed] + 1


async def test_a_locked_admin_log_delays_a_batch_only_briefly(log_table: TestDb) -> None:
    ids = await log_table.seed(1)
    async with log_table.db.session() as locker, ops_stack(log_table, audit_timeout_s=0.5) as stack:
        await locker.execute("LOCK TABLES vicidial_admin_log WRITE")
        try:
            started = time.monotonic()
            reply = await stack.archive_call(ids)
            elapsed = time.monotonic() - started
        finally:
            await locker.execute("UNLOCK TABLES")
    assert reply.delete_count == 1
    assert 0.5 <= elapsed < 5


def entry(lead_ids: list[int], **counts: int) -> AuditEntry:
    values = {
        "select_count": 1,
        "insert_count": 1,
        "update_count": 0,
        "delete_count": 1,
        "kept_count": 0,
    }
    return AuditEntry("rid", "6666", "127.0.0.1", lead_ids, True, True, True, **(values | counts))


@pytest.mark.parametrize(
    ("peer", "address"),
    [
        ("ipv4:10.1.2.3:5000", "10.1.2.3"),
        ("ipv6:[::1]:5000", "::1"),
        ("ipv6:[::ffff:10.1.2.3]:5000", "::ffff:10.1.2.3"),
        ("unix:/run/lead-archive.sock", ""),
        ("", ""),
    ],
)
def test_peer_addresses(peer: str, address: str) -> None:
    assert peer_address(peer) == address


def test_client_address_rules() -> None:
    loopback = parse_networks("127.0.0.1, ::1")
    assert client_address("ipv4:127.0.0.1:1", "198.51.100.1", loopback) == "198.51.100.1"
    # The right-most entry is the one the trusted proxy added.
    assert client_address("ipv4:127.0.0.1:1", "6.6.6.6, 198.51.100.1", loopback) == "198.51.100.1"
    assert client_address("ipv4:10.0.0.9:1", "198.51.100.1", loopback) == "10.0.0.9"
    assert client_address("ipv4:127.0.0.1:1", "not-an-ip", loopback) == "127.0.0.1"
    assert client_address("ipv6:[::ffff:192.0.2.1]:1", None, loopback) == "192.0.2.1"
    assert client_address("ipv6:[::1]:1", "2001:db8::1", loopback) == "2001:db8::1"


@pytest.mark.parametrize(
    ("address", "column", "truncated"),
    [
        ("192.168.100.200", "192.168.100.200", False),
        ("::1", "::1", False),
        ("2001:db8::7", "2001:db8::7", False),
        ("2001:db8:85a3::8a2e:370:7334", "2001:db8:85a3::", True),
    ],
)
def test_addresses_fit_varchar_15(address: str, column: str, truncated: bool) -> None:
    fitted = admin_log_address(address)
    assert (fitted.column, fitted.truncated, fitted.full) == (column, truncated, address)
    assert len(fitted.column) <= 15
