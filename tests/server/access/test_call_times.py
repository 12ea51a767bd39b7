"""Call times from Vicidial's own tables (CONTRACT 7), end to end on the real database."""

from __future__ import annotations

from datetime import UTC, datetime

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from lead_archive_client.vocabulary import SERVICE_NAME
from lead_archive_server.cli.commands import app
from typer.testing import CliRunner

from tests.support import TestDb, wait_until
from tests.support_ops import ops_stack

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
# The ops stack's clock: Sunday 2026-11-29 03:00 UTC.


async def health_of(channel: grpc.aio.Channel) -> int:
    stub = health_pb2_grpc.HealthStub(channel)
    reply = await stub.Check(health_pb2.HealthCheckRequest(service=SERVICE_NAME))
    return int(reply.status)


async def is_serving(channel: grpc.aio.Channel) -> bool:
    return await health_of(channel) == SERVING


async def set_call_time(tdb: TestDb, start: int, stop: int) -> None:
    await tdb.execute(
        "UPDATE vicidial_call_times SET ct_default_start = %s, ct_default_stop = %s "
        "WHERE call_time_id = '9am-9pm'",
        [start, stop],
    )


@pytest.mark.parametrize(
    ("stop", "status"),
    [
        (2400, 200),  # Saturday's day ended at midnight: 03:00 Sunday is free
        (2600, 200),  # ... and at 02:00 with a stop of 2600
        (2700, 200),  # 2700 runs until 03:00, which is already outside
        (2701, 403),  # 2701 runs through 03:00 Sunday: inside, refused
        (9999, 403),  # any stop above 2400 is read, never a 500
    ],
)
async def test_a_stop_past_midnight_through_the_api(tdb: TestDb, stop: int, status: int) -> None:
    await set_call_time(tdb, 900, stop)
    async with ops_stack(tdb, call_time_id="9am-9pm", timezone="UTC") as stack:
        lead_ids = await tdb.seed(1)
        response = await stack.post(lead_ids)
    assert response.status_code == status, response.text
    if status == 403:
        assert response.json() == {
            "message": "api cannot be executed during office hours time condition"
        }


@pytest.mark.parametrize(("method", "status"), [("REPLACE", 200), ("ADDITION_REVERSE", 403)])
async def test_holiday_method_is_read_from_the_holidays_table(
    tdb: TestDb, method: str, status: int
) -> None:
    # Sunday 2026-11-29 is a holiday closed all day (2400-2400) in a 24-hour call time.
    await set_call_time(tdb, 0, 2400)
    await tdb.execute(
        "INSERT INTO vicidial_call_time_holidays (holiday_id, holiday_name, holiday_date, "
        "holiday_status, ct_default_start, ct_default_stop, holiday_method) "
        "VALUES ('shut', 'Shut', '2026-11-29', 'ACTIVE', 2400, 2400, %s)",
        [method],
    )
    await tdb.execute("UPDATE vicidial_call_times SET ct_holidays = '|shut|'")
    async with ops_stack(tdb, call_time_id="9am-9pm", timezone="UTC") as stack:
        response = await stack.post(await tdb.seed(1))
    # REPLACE closes the day, so the API may run; ADDITION_REVERSE keeps the 24 hours open.
    assert response.status_code == status, response.text


async def test_vanished_call_time_turns_health_and_readyz_not_ready(tdb: TestDb) -> None:
    async with ops_stack(tdb, call_time_id="9am-9pm", health_interval_s=0.2) as stack:
        await stack.ops.start()
        assert await health_of(stack.channel) == SERVING
        assert (await stack.http.get("/readyz")).status_code == 200

        await tdb.execute("DELETE FROM vicidial_call_times WHERE call_time_id = '9am-9pm'")
        await stack.ops.watcher.check()
        assert await health_of(stack.channel) == NOT_SERVING
        assert stack.ops.watcher.reason == (
            "LEAD_ARCHIVE_CALL_TIME_ID: no call time '9am-9pm' in vicidial_call_times"
        )
        ready = await stack.http.get("/readyz")
        assert ready.status_code == 503
        # Callers get a 500 that names no setting (the operator reads health and the log).
        response = await stack.post(await tdb.seed(1))
        assert response.status_code == 500
        body = response.json()
        assert body == {
            "message": "office hours cannot be read: their Vicidial call time no longer exists",
            "lead_errors": 0,
            "lead_ids": [],
        }
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stack.archive_call(await tdb.seed(1))
        assert caught.value.code() == grpc.StatusCode.INTERNAL
        assert "LEAD_ARCHIVE" not in (caught.value.details() or "")

        await tdb.execute(
            "INSERT INTO vicidial_call_times (call_time_id, call_time_name, ct_default_start, "
            "ct_default_stop) VALUES ('9am-9pm', 'back', 900, 2100)"
        )
        await wait_until(lambda: is_serving(stack.channel), 5, "SERVING once the call time is back")
        assert (await stack.http.get("/readyz")).status_code == 200


async def test_vanished_call_times_table_is_not_ready_either(tdb: TestDb) -> None:
    async with ops_stack(tdb, call_time_id="9am-9pm") as stack:
        await tdb.execute("DROP TABLE vicidial_call_times")
        assert await stack.ops.watcher.check() is False
        assert stack.ops.watcher.reason == (
            "LEAD_ARCHIVE_CALL_TIME_ID: no vicidial_call_times table in the database"
        )
        response = await stack.post(await tdb.seed(1))
        assert response.status_code == 500
        assert "LEAD_ARCHIVE" not in response.json()["message"]


@pytest.mark.parametrize("command", [["serve"], ["grpc"]])
def test_unknown_call_time_stops_start_up_with_one_line(
    monkeypatch: pytest.MonkeyPatch, tdb: TestDb, command: list[str]
) -> None:
    for name in ("LEAD_ARCHIVE_CONFIG", "LEAD_ARCHIVE_OFFICE_HOURS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LEAD_ARCHIVE_DATABASE_URL", tdb.db.url.url())
    monkeypatch.setenv("LEAD_ARCHIVE_CALL_TIME_ID", "nosuch")
    monkeypatch.setenv("LEAD_ARCHIVE_GRPC_PORT", "0")
    monkeypatch.setenv("LEAD_ARCHIVE_HTTP_PORT", "0")
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert lines[-1].endswith(
        "LEAD_ARCHIVE_CALL_TIME_ID: no call time 'nosuch' in vicidial_call_times"
    ), result.output
    assert "Traceback" not in result.output


def test_the_ops_stack_clock_is_sunday_night() -> None:
    from tests.support_ops import NIGHT

    assert datetime(2026, 11, 29, 3, 0, tzinfo=UTC) == NIGHT and NIGHT.weekday() == 6
