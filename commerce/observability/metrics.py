"""Prometheus metrics: `GET /metrics` in the text exposition format.

Two kinds of figures:

- **Process counters and gauges** (requests by route template and status with latency
  histograms, pool connections in use and waiting, reservations expired, POS events, checkouts
  refused, webhook delivery failures) are kept by `prometheus_client` in each process.
- **Database state** (event relay lag, webhook backlog and consecutive failures, replica lag) is
  read from PostgreSQL when `/metrics` is scraped: it is the same whichever process answers.

Several worker processes (`commerce serve --workers N`) behind one port: a scrape reaches one of
them at random, so per-process figures would jump around. The server runs in prometheus_client's
multiprocess mode instead (`commerce serve` sets `PROMETHEUS_MULTIPROC_DIR` to a fresh folder
when N > 1): every process writes its samples to memory-mapped files there and whichever process
answers a scrape sums them (gauges of connections in use and waiting: `livesum`, the live
processes only). One process, or none of that variable: the default in-process registry.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import os
from collections import Counter as Counter_
from collections.abc import Iterable, Iterator
from typing import Any

import asyncpg
from litestar import Request, Response, get
from litestar.datastructures import State
from litestar.plugins.prometheus import PrometheusConfig
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from commerce.errors import Unauthorized

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
SCRAPE_TIMEOUT_SECONDS = 5.0
log = logging.getLogger("commerce.metrics")

# Request count, latency histogram and in-flight requests, labelled by the route *template*
# (`/v1/carts/{cart_id:str}/checkout`, not every cart id) and the status code.
prometheus_config = PrometheusConfig(
    app_name="commerce",
    prefix="commerce",
    group_path=True,
    exclude=["^/metrics$"],
    buckets=[0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0],
)

POOL_IN_USE = Gauge(
    "commerce_db_pool_connections_in_use",
    "Database connections checked out of this service's pools (primary: transactions; checkout: checkout's"
    " transactions; read: the searches)",
    ["pool"],
    multiprocess_mode="livesum",
)
POOL_WAITING = Gauge(
    "commerce_db_pool_waiting",
    "Requests waiting for a connection from the pool",
    ["pool"],
    multiprocess_mode="livesum",
)
ADMISSION_QUEUE = Gauge(
    "commerce_db_admission_queued",
    "Checkouts waiting for a transaction (commerce/orders/batching.py), holding no connection",
    multiprocess_mode="livesum",
)
ADMISSION_WAIT = Histogram(
    "commerce_db_admission_wait_seconds",
    "Time a checkout waited for its transaction (0 when it began at once)",
    buckets=[0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0],
)
ADMISSION_REFUSED = Counter(
    "commerce_db_admission_refused",
    "Checkouts answered 503 after waiting the longest allowed for a transaction",
)
CHECKOUT_BATCH_SIZE = Histogram(
    "commerce_checkout_batch_orders",
    "Checkouts placed by one transaction (orders/batching.py: those that queued while others ran)",
    buckets=[1, 2, 4, 8, 16, 32, 64],
)
RESERVATIONS_EXPIRED = Counter(
    "commerce_reservations_expired",
    "Pickup orders expired past their hold, their reservations released",
)
POS_EVENTS = Counter(
    "commerce_pos_events",
    "POS till events received, by outcome (applied, duplicate, rejected)",
    ["status"],
)
CHECKOUTS_REFUSED = Counter(
    "commerce_checkouts_refused_for_stock",
    "Checkouts answered 409 insufficient_stock",
)
WEBHOOK_FAILURES = Counter(
    "commerce_webhook_delivery_failures",
    "Webhook delivery attempts that failed (no answer or not 2xx), per webhook",
    ["webhook"],
)

for _pool in ("primary", "checkout", "read", "replica"):
    POOL_IN_USE.labels(_pool)
    POOL_WAITING.labels(_pool)
for _status in ("applied", "duplicate", "rejected"):
    POS_EVENTS.labels(_status)


@contextlib.contextmanager
def waiting_for_connection(pool: str) -> Iterator[None]:
    """Count the caller as waiting for a connection of `pool` while the block runs."""
    gauge = POOL_WAITING.labels(pool)
    gauge.inc()
    try:
        yield
    finally:
        gauge.dec()


def count_pos_events(statuses: Iterable[str]) -> None:
    for status, n in Counter_(statuses).items():
        POS_EVENTS.labels(status).inc(n)


def process_registry() -> CollectorRegistry:
    """This process's registry, or one summing every worker's files in multiprocess mode."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return registry
    return REGISTRY


def process_exited() -> None:
    """Drop this process's live gauges from the multiprocess files (at shutdown)."""
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


# --- the database's state, read at scrape time -----------------------------------------------

_RELAY_LAG = """
SELECT count(*) AS events, coalesce(extract(epoch FROM now() - min(occurred_at)), 0)::float8 AS seconds
FROM events WHERE seq IS NULL
"""
# Events past each webhook's cursor that it subscribes to (counted up to 100k: past that the figure
# only needs to say "far behind").
_WEBHOOKS = """
SELECT w.id, w.failed_attempts,
       (SELECT count(*) FROM (SELECT 1 FROM events e
                              WHERE e.seq > w.last_delivered_seq AND e.type = ANY(w.types) LIMIT 100000) b) AS backlog
FROM webhooks w ORDER BY w.id
"""


class DatabaseState(Collector):
    """The figures read from PostgreSQL for one scrape."""

    def __init__(self) -> None:
        self.families: list[GaugeMetricFamily] = []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield from self.families

    async def read(self, state: State) -> None:
        """Read the figures; a database that does not answer leaves only `commerce_db_up 0`, so the
        process figures are still scraped during an outage."""
        up = GaugeMetricFamily("commerce_db_up", "1 when the primary answered this scrape's queries")
        try:
            async with state.read_pool.acquire(timeout=SCRAPE_TIMEOUT_SECONDS) as conn:
                relay = await conn.fetchrow(_RELAY_LAG, timeout=SCRAPE_TIMEOUT_SECONDS)
                hooks = await conn.fetch(_WEBHOOKS, timeout=SCRAPE_TIMEOUT_SECONDS)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
            log.warning("metrics: the database did not answer; only process figures this scrape", exc_info=True)
            up.add_metric([], 0)
            self.families = [up]
            return
        up.add_metric([], 1)
        lag_events = GaugeMetricFamily(
            "commerce_event_relay_lag_events", "Committed outbox events not yet numbered into the feed"
        )
        lag_events.add_metric([], relay["events"])
        lag_seconds = GaugeMetricFamily(
            "commerce_event_relay_lag_seconds", "Age of the oldest committed event not yet numbered (0 when none)"
        )
        lag_seconds.add_metric([], relay["seconds"])
        backlog = GaugeMetricFamily(
            "commerce_webhook_backlog_events",
            "Numbered events of its types not yet delivered, per webhook",
            labels=["webhook"],
        )
        failing = GaugeMetricFamily(
            "commerce_webhook_failed_attempts",
            "Consecutive failed attempts at the webhook's next event (0 when delivering)",
            labels=["webhook"],
        )
        for hook in hooks:
            backlog.add_metric([hook["id"]], hook["backlog"])
            failing.add_metric([hook["id"]], hook["failed_attempts"])
        self.families = [up, lag_events, lag_seconds, backlog, failing]
        replica = getattr(state, "replica", None)
        if replica is not None:
            self.families += await replica.lag_metrics(state.read_pool)


def check_token(request: Request[Any, Any, Any], token: str | None) -> None:
    if token is None:
        return
    given = request.headers.get("authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        raise Unauthorized("GET /metrics needs `Authorization: Bearer <COMMERCE_METRICS_TOKEN>`.")


@get("/metrics", tags=["Service"], summary="Prometheus metrics", exclude_from_auth=True, include_in_schema=False)
async def metrics(request: Request[Any, Any, Any], state: State) -> Response[bytes]:
    check_token(request, state.settings.metrics_token)
    database = DatabaseState()
    await database.read(state)
    db_registry = CollectorRegistry(auto_describe=False)
    db_registry.register(database)
    body = generate_latest(process_registry()) + generate_latest(db_registry)
    # Litestar appends `; charset=utf-8` to a text/ media type itself: without this it is sent twice.
    return Response(body, media_type=CONTENT_TYPE_LATEST.replace("; charset=utf-8", ""))
