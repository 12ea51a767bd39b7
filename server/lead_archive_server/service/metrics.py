"""Prometheus metrics of the gRPC server, in prometheus-client's default registry.

The default registry is process-wide on purpose: in ``lead-archive serve`` the REST shim's
``/metrics`` exports these next to its own; ``lead-archive grpc`` exports them on
LEAD_ARCHIVE_METRICS_PORT.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Iterator
from threading import Lock

from lead_archive_client.vocabulary import LATENCY_BUCKETS
from prometheus_client import REGISTRY, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from lead_archive_server.core import phases
from lead_archive_server.core.db import Database
from lead_archive_server.service.calls import EndedCall

# Seconds: a batch is tens of milliseconds when idle, up to the 30 s batch lock when queued.

REQUESTS = Counter(
    "lead_archive_grpc_requests",
    "gRPC calls of LeadArchiveService, by method and status code.",
    ["method", "outcome"],
)
REQUEST_SECONDS = Histogram(
    "lead_archive_grpc_request_duration_seconds",
    "Time to answer a LeadArchiveService call, by method.",
    ["method"],
    buckets=LATENCY_BUCKETS,
)
LEADS = Counter(
    "lead_archive_leads",
    "Leads of successful batches: selected (read from vicidial_list), inserted and updated "
    "(in vicidial_list_archive), deleted (from vicidial_list), kept (delete asked, not "
    "identical), in_use (delete asked, kept because Vicidial's dialer uses the lead).",
    ["action"],
)
PHASE_SECONDS = Histogram(
    "lead_archive_phase_duration_seconds",
    "Time spent in each phase of a batch: lock (waiting for other batches, with the membership "
    "query that rides in the same round trip), schema, select, insert, update, hopper (READY "
    "hopper rows of leads about to be deleted), delete.",
    ["phase"],
    buckets=LATENCY_BUCKETS,
)
RESTORED_LEADS = Counter(
    "lead_archive_restored_leads",
    "Leads of successful restore batches: selected (read from vicidial_list_archive), inserted "
    "(into vicidial_list), deleted (from the archive), kept (vicidial_list holds other data).",
    ["action"],
)
AUDIT_ROWS = Counter(
    "lead_archive_audit_rows",
    "vicidial_admin_log rows: written, failed (error or timeout), or skipped (table missing).",
    ["outcome"],
)
DATABASE_UP = Gauge(
    "lead_archive_database_up", "1 while the health watcher reaches the database, else 0."
)

LEAD_ACTIONS = ("selected", "inserted", "updated", "deleted", "kept", "in_use")
RESTORE_ACTIONS = ("selected", "inserted", "deleted", "kept")
RESTORE_METHOD = "RestoreLeads"
for _action in LEAD_ACTIONS:
    LEADS.labels(_action)
for _action in RESTORE_ACTIONS:
    RESTORED_LEADS.labels(_action)
for _phase in phases.PHASES:
    PHASE_SECONDS.labels(_phase)
for _outcome in ("written", "failed", "skipped"):
    AUDIT_ROWS.labels(_outcome)


def observe_phase(name: str, seconds: float) -> None:
    """The phase observer that feeds PHASE_SECONDS."""
    PHASE_SECONDS.labels(name).observe(seconds)


phases.add_observer(observe_phase)


class _PoolCollector(Collector):
    """Connections of every open pool, read at scrape time, by database name."""

    def __init__(self) -> None:
        self._pools: weakref.WeakKeyDictionary[Database, int] = weakref.WeakKeyDictionary()
        self._lock = Lock()  # scrapes may come from the metrics port's own thread

    def watch(self, db: Database, size: int) -> None:
        with self._lock:
            self._pools[db] = size

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self._lock:
            # A closed pool is not reported, even before it is garbage collected.
            pools = [(db, size) for db, size in self._pools.items() if not db.closed]
        totals: dict[str, list[int]] = {}
        for db, size in pools:
            in_use, open_ = db.pool_stats
            total = totals.setdefault(db.url.database, [0, 0, 0])
            for i, value in enumerate((in_use, open_, size)):
                total[i] += value
        connections = GaugeMetricFamily(
            "lead_archive_db_pool_connections",
            "Database connections of the pool: in_use (lent to a request) and open.",
            labels=["database", "state"],
        )
        limit = GaugeMetricFamily(
            "lead_archive_db_pool_max_connections",
            "Most connections the pool opens (the pool size setting).",
            labels=["database"],
        )
        for database, (in_use, open_, size) in sorted(totals.items()):
            connections.add_metric([database, "in_use"], in_use)
            connections.add_metric([database, "open"], open_)
            limit.add_metric([database], size)
        yield connections
        yield limit


POOLS = _PoolCollector()
REGISTRY.register(POOLS)


def record_call(method: str, outcome: str, seconds: float, counts: Iterable[int] = ()) -> None:
    """Count one call; counts are selected, inserted, updated, deleted, kept, in_use of a
    successful archive batch, or selected, inserted, deleted, kept of a restore batch."""
    REQUESTS.labels(method, outcome).inc()
    REQUEST_SECONDS.labels(method).observe(seconds)
    counter, actions = (
        (RESTORED_LEADS, RESTORE_ACTIONS) if method == RESTORE_METHOD else (LEADS, LEAD_ACTIONS)
    )
    for action, count in zip(actions, counts, strict=False):
        counter.labels(action).inc(count)


class CallMetrics:
    """Counts every ended call, and a successful batch's leads (see record_call)."""

    async def call_ended(self, call: EndedCall) -> None:
        """Count the call."""
        record_call(call.record.method, call.code.name, call.seconds, call.counts())


class MetricsUnavailable(Exception):
    """The metrics endpoint cannot listen; the message says where and why."""


class MetricsServer:
    """The plain-HTTP /metrics endpoint on a port of its own (its own thread)."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        try:
            self._server, self._thread = start_http_server(port, addr=host)
        except OSError as error:
            reason = error.strerror or str(error)
            raise MetricsUnavailable(f"cannot listen on {host}:{port}: {reason}") from None

    @property
    def port(self) -> int:
        """The port it listens on (useful when 0 picked a free one)."""
        return int(self._server.server_port)

    def close(self) -> None:
        """Stop serving and free the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
