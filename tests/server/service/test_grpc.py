"""The gRPC service end to end: generated stub → servicer → real MariaDB."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from lead_archive_server.access.keys import create_key
from lead_archive_server.runtime.app import create_server
from lead_archive_server.runtime.settings import Settings
from vicidial.leads.v1 import lead_archive_pb2 as pb
from vicidial.leads.v1 import lead_archive_pb2_grpc as pb_grpc

from tests.support import ARCHIVE, LEADS, TestDb
from tests.support_ops import lead_errors


@dataclass
class Clock:
    now: datetime = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)  # a Sunday night

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Rig:
    stub: pb_grpc.LeadArchiveServiceStub
    channel: grpc.aio.Channel
    key: str
    clock: Clock
    tdb: TestDb

    @property
    def auth(self) -> list[tuple[str, str]]:
        return [("authorization", f"Key={self.key}")]

    async def archive(self, ids, *, metadata=None, **flags) -> pb.ArchiveLeadsResponse:
        fields = {"insert_leads": True, "update_leads": True, "delete_leads": True} | flags
        request = pb.ArchiveLeadsRequest(
            lead_ids=ids, **{k: v for k, v in fields.items() if v is not None}
        )
        return await self.stub.ArchiveLeads(
            request, metadata=self.auth if metadata is None else metadata
        )


def settings_for(tdb: TestDb, **overrides) -> Settings:
    values = {
        "database_url": tdb.db.url.url(),
        "office_hours": "mon-fri 08:00-18:00",
        "timezone": "America/New_York",
    }
    return Settings(**(values | overrides))


@pytest.fixture
async def rig(tdb: TestDb) -> AsyncIterator[Rig]:
    clock = Clock()
    server, port = create_server(settings_for(tdb), tdb.db, clock=clock, port=0)
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    key = await create_key(tdb.db, "6666")
    yield Rig(pb_grpc.LeadArchiveServiceStub(channel), channel, key, clock, tdb)
    await channel.close()
    await server.stop(None)


async def expect_error(call, code: grpc.StatusCode, message: str, ids=()) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    assert raised.value.code() == code
    assert raised.value.details() == message
    detail = lead_errors(raised.value)
    assert (detail.message, detail.lead_errors, list(detail.lead_ids)) == (
        message,
        len(ids),
        list(ids),
    )


async def test_archive_over_grpc(rig: Rig) -> None:
    ids = await rig.tdb.seed(3)
    response = await rig.archive(ids)
    assert response == pb.ArchiveLeadsResponse(
        message="lead_ids batch was successfully processed",
        select_count=3,
        insert_count=3,
        update_count=0,
        delete_count=3,
    )
    assert await rig.tdb.count(ARCHIVE) == 3
    assert await rig.tdb.count(LEADS) == 0


@pytest.mark.parametrize(
    "metadata",
    [
        [],
        [("authorization", "Key=")],
        [("authorization", "Bearer abcdefghijklmnopqrstuvwxyz")],
        [("authorization", "Key=abcdefghijklmnopqrstuvwxyz0123456789")],
        [("authorization", "key=abcdefghijklmnopqrstuvwxyz0123456789")],
    ],
    ids=["missing", "empty", "bearer", "unknown", "lowercase-prefix"],
)
async def test_bad_keys_are_unauthenticated(rig: Rig, metadata) -> None:
    ids = await rig.tdb.seed(1)
    before = await rig.tdb.snapshot()
    await expect_error(
        rig.archive(ids, metadata=metadata),
        grpc.StatusCode.UNAUTHENTICATED,
        "unable to validate api user",
    )
    assert await rig.tdb.snapshot() == before


async def test_revoked_key_is_unauthenticated(rig: Rig) -> None:
    await rig.tdb.execute("UPDATE lead_archive_api_keys SET revoked_at = NOW()")
    await expect_error(
        rig.stub.CheckAccess(pb.CheckAccessRequest(), metadata=rig.auth),
        grpc.StatusCode.UNAUTHENTICATED,
        "unable to validate api user",
    )


async def test_key_is_checked_before_office_hours(rig: Rig) -> None:
    rig.clock.now = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)  # Monday 10:00 in New York
    await expect_error(
        rig.archive([1], metadata=[]),
        grpc.StatusCode.UNAUTHENTICATED,
        "unable to validate api user",
    )


@pytest.mark.parametrize(
    ("utc", "inside"),
    [
        (datetime(2026, 11, 30, 13, 0), True),  # Mon 08:00 New York
        (datetime(2026, 11, 30, 12, 59), False),  # Mon 07:59
        (datetime(2026, 11, 30, 22, 59), True),  # Mon 17:59
        (datetime(2026, 11, 30, 23, 0), False),  # Mon 18:00
        (datetime(2026, 11, 28, 15, 0), False),  # Saturday 10:00
    ],
)
async def test_office_hours_deny_with_403_code(rig: Rig, utc: datetime, inside: bool) -> None:
    ids = await rig.tdb.seed(1)
    rig.clock.now = utc.replace(tzinfo=UTC)
    if inside:
        await expect_error(
            rig.archive(ids),
            grpc.StatusCode.PERMISSION_DENIED,
            "api cannot be executed during office hours time condition",
        )
        assert await rig.tdb.count(LEADS) == 1
    else:
        assert (await rig.archive(ids)).delete_count == 1


async def test_office_hours_come_before_field_checks(rig: Rig) -> None:
    rig.clock.now = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
    await expect_error(
        rig.archive([], insert_leads=None),
        grpc.StatusCode.PERMISSION_DENIED,
        "api cannot be executed during office hours time condition",
    )


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"insert_leads": None}, "insert_leads must be a boolean value"),
        ({"update_leads": None}, "update_leads must be a boolean value"),
        ({"delete_leads": None}, "delete_leads must be a boolean value"),
        ({"insert_leads": None, "delete_leads": None}, "insert_leads must be a boolean value"),
    ],
)
async def test_unset_flags(rig: Rig, flags, message) -> None:
    ids = await rig.tdb.seed(1)
    await expect_error(rig.archive(ids, **flags), grpc.StatusCode.INVALID_ARGUMENT, message)


async def test_lead_id_checks(rig: Rig) -> None:
    ids = await rig.tdb.seed(2)
    before = await rig.tdb.snapshot()
    invalid = grpc.StatusCode.INVALID_ARGUMENT
    await expect_error(rig.archive([]), invalid, "lead_ids must contain atleast 1 value")
    await expect_error(
        rig.archive(list(range(1, 502))), invalid, "lead_ids cannot exceed 500 values"
    )
    await expect_error(
        rig.archive([ids[0], ids[1], ids[0]]),
        invalid,
        "lead_ids cannot contain duplicate values",
        [ids[0]],
    )
    await expect_error(
        rig.archive([ids[0], -1, 2**63 - 1]), invalid, "lead_ids does not exist", [-1, 2**63 - 1]
    )
    assert await rig.tdb.snapshot() == before


async def test_schema_drift_is_a_failed_precondition_naming_the_column(rig: Rig) -> None:
    ids = await rig.tdb.seed(1)
    await rig.tdb.execute(f"ALTER TABLE {LEADS} ADD COLUMN extra_notes VARCHAR(20)")
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await rig.archive(ids)
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "extra_notes" in raised.value.details()
    assert lead_errors(raised.value).lead_errors == 0


async def test_check_access_names_the_user(rig: Rig) -> None:
    response = await rig.stub.CheckAccess(pb.CheckAccessRequest(), metadata=rig.auth)
    assert response.api_user == "6666"


async def test_health_service_reports_serving(rig: Rig) -> None:
    health = health_pb2_grpc.HealthStub(rig.channel)
    for service in ("", "vicidial.leads.v1.LeadArchiveService"):
        reply = await health.Check(health_pb2.HealthCheckRequest(service=service))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_reflection_lists_the_service(rig: Rig) -> None:
    reflection = reflection_pb2_grpc.ServerReflectionStub(rig.channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    async for reply in reflection.ServerReflectionInfo(iter([request])):
        names = {s.name for s in reply.list_services_response.service}
        break
    assert "vicidial.leads.v1.LeadArchiveService" in names
