"""GET /metrics: request, pool, feed, webhook, reservation, POS and checkout figures, and its token."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import msgspec
from litestar import Litestar

from commerce.app import create_app
from commerce.events.dispatch import WebhookDispatcher
from commerce.events.relay import relay_once
from commerce.orders.sweeper import sweep_once
from commerce.settings import Settings
from tests.api.test_checkout import cart_with, checkout, pickup, stock
from tests.api.test_pos_sync import event, send
from tests.api.test_webhooks import eventually
from tests.conftest import ADMIN, Api, running
from tests.ops.metrics_scrape import scrape, value

ROUTE = "/v1/stores/{code}"


@contextlib.asynccontextmanager
async def served(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """Another app (own settings), its lifespan run in a task of its own, with a client."""
    app = create_app(settings)
    async with (
        running(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://commerce.test") as client,
    ):
        client.app = app  # type: ignore[attr-defined]
        yield client


async def test_requests_are_counted_by_route_template_and_status_with_latencies(client, api: Api) -> None:
    await api.store("LOOP")
    before = await scrape(client)
    for code in ("LOOP", "LOOP", "NOPE"):
        await client.get(f"/v1/stores/{code}", headers=ADMIN)
    after = await scrape(client)

    def delta(name: str, status: int) -> float:
        labels = {"app_name": "commerce", "method": "GET", "path": ROUTE, "status_code": status}
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("commerce_requests_total", 200) == 2
    assert delta("commerce_requests_total", 404) == 1
    assert delta("commerce_request_duration_seconds_count", 200) == 2
    inf = {"app_name": "commerce", "method": "GET", "path": ROUTE, "status_code": 200, "le": "+Inf"}
    assert (
        value(after, "commerce_request_duration_seconds_bucket", **inf)
        - value(before, "commerce_request_duration_seconds_bucket", **inf)
        == 2
    )
    # Never one series per store code.
    assert not any("LOOP" in str(labels) for _, labels in after)


async def test_metrics_token_is_required_when_set(settings: Settings) -> None:
    async with served(msgspec.structs.replace(settings, metrics_token="m-secret")) as client:
        assert (await client.get("/metrics")).status_code == 401
        r = await client.get("/metrics", headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 401
        assert r.headers["content-type"] == "application/problem+json"
        r = await client.get("/metrics", headers={"Authorization": "Bearer m-secret"})
        assert r.status_code == 200
        assert "commerce_event_relay_lag_events" in r.text
        # An API key is not the metrics token (and the metrics token is no API key).
        assert (await client.get("/metrics", headers=ADMIN)).status_code == 401
        assert (await client.get("/v1/stores", headers={"Authorization": "Bearer m-secret"})).status_code == 401


async def test_pool_connections_in_use_and_waiting(settings: Settings) -> None:
    tiny = msgspec.structs.replace(settings, db_pool_size=1, db_max_overflow=0)
    async with served(tiny) as client:
        app: Litestar = client.app  # type: ignore[attr-defined]
        base = await scrape(client)
        in_use = value(base, "commerce_db_pool_connections_in_use", pool="primary")
        async with app.state.sessionmaker() as held, held.begin():
            await held.connection()
            assert value(await scrape(client), "commerce_db_pool_connections_in_use", pool="primary") == in_use + 1
            # The only connection is taken: a request that needs one waits.
            request = asyncio.create_task(client.get(f"/v1/orders/{uuid.UUID(int=0)}", headers=ADMIN))

            async def one_waits() -> bool:
                return value(await scrape(client), "commerce_db_pool_waiting", pool="primary") == 1

            await eventually(one_waits)
        assert (await request).status_code == 404
        after = await scrape(client)
        assert value(after, "commerce_db_pool_waiting", pool="primary") == 0
        assert value(after, "commerce_db_pool_connections_in_use", pool="primary") == in_use


async def test_event_relay_lag_counts_committed_events_not_yet_numbered(app, client, db_conn) -> None:
    await db_conn.execute(
        "INSERT INTO events (type, data, occurred_at) SELECT 'order.placed', '{}', now() - interval '3 seconds' "
        "FROM generate_series(1, 4)"
    )
    samples = await scrape(client)
    assert value(samples, "commerce_event_relay_lag_events") == 4
    assert value(samples, "commerce_event_relay_lag_seconds") >= 3
    await relay_once(app.state.sessionmaker)
    samples = await scrape(client)
    assert value(samples, "commerce_event_relay_lag_events") == 0
    assert value(samples, "commerce_event_relay_lag_seconds") == 0


async def test_webhook_backlog_and_failures_per_webhook(app, client, db_conn, settings: Settings) -> None:
    for hook in ("erp", "crm"):
        r = await client.put(
            f"/v1/webhooks/{hook}",
            json={"url": "http://127.0.0.1:9/nobody", "types": ["order.placed"], "secret": "s" * 20},
            headers=ADMIN,
        )
        assert r.status_code == 201, r.text
    await db_conn.execute(
        "INSERT INTO events (type, data) SELECT t, '{}' FROM unnest(ARRAY['order.placed', 'order.placed', "
        "'order.placed', 'order.collected']) t"
    )
    await relay_once(app.state.sessionmaker)
    await db_conn.execute("UPDATE webhooks SET next_attempt_at = 'infinity' WHERE id = 'crm'")
    before = await scrape(client)
    fast = msgspec.structs.replace(
        settings, webhook_timeout_seconds=1.0, webhook_backoff_initial_seconds=0.01, webhook_backoff_max_seconds=0.02
    )
    dispatcher = WebhookDispatcher(app.state.sessionmaker, fast)
    try:
        await dispatcher.dispatch_due()
        await eventually(lambda: db_conn.fetchval("SELECT failed_attempts >= 2 FROM webhooks WHERE id = 'erp'"))
    finally:
        await dispatcher.close()
    after = await scrape(client)
    failures = value(after, "commerce_webhook_delivery_failures_total", webhook="erp") - value(
        before, "commerce_webhook_delivery_failures_total", webhook="erp"
    )
    attempts = await db_conn.fetchval("SELECT count(*) FROM webhook_deliveries WHERE webhook_id = 'erp'")
    assert failures == attempts >= 2
    assert value(after, "commerce_webhook_delivery_failures_total", webhook="crm") == 0
    assert value(after, "commerce_webhook_failed_attempts", webhook="erp") >= 2
    assert value(after, "commerce_webhook_failed_attempts", webhook="crm") == 0
    # Three order.placed after each cursor; order.collected is not of their types.
    assert value(after, "commerce_webhook_backlog_events", webhook="erp") == 3
    assert value(after, "commerce_webhook_backlog_events", webhook="crm") == 3


async def test_pos_outcomes_refused_checkouts_and_expired_reservations(app, client, api: Api) -> None:
    await api.store("LOOP", pickup=True, pickup_lead_minutes=0)
    await api.product("tee", ["TEE-S"])
    await stock(app, [("LOOP", "TEE-S", 2)])
    web = await api.key("storefront")
    before = await scrape(client)

    results = await send(
        client,
        "LOOP",
        [event("a", "receipt", 0, ("TEE-S", 1)), event("b", "receipt", 1, ("NOPE", 1))],
    )
    assert [r["status"] for r in results] == ["applied", "rejected"]
    results = await send(client, "LOOP", [event("a", "receipt", 0, ("TEE-S", 1))])
    assert [r["status"] for r in results] == ["duplicate"]

    placed = await checkout(client, await cart_with(client, web, pickup("TEE-S", 2)), web)
    assert placed.status_code == 201, placed.text
    refused = await checkout(client, await cart_with(client, web, pickup("TEE-S", 5)), web)
    assert refused.status_code == 409
    assert await sweep_once(app.state.sessionmaker, datetime.now(UTC) + timedelta(days=30)) == 1

    after = await scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("commerce_pos_events_total", status="applied") == 1
    assert delta("commerce_pos_events_total", status="rejected") == 1
    assert delta("commerce_pos_events_total", status="duplicate") == 1
    assert delta("commerce_checkouts_refused_for_stock_total") == 1
    assert delta("commerce_reservations_expired_total") == 1


async def test_metrics_are_served_while_the_database_is_down(settings: Settings, client) -> None:
    assert value(await scrape(client), "commerce_db_up") == 1
    unreachable = msgspec.structs.replace(settings, database_url="postgresql://postgres@127.0.0.1:1/nowhere")
    async with served(unreachable) as down:
        r = await down.get("/metrics")
        assert r.status_code == 200
        assert "commerce_db_up 0.0" in r.text
        assert "commerce_requests_total" in r.text
        assert "commerce_event_relay_lag_events" not in r.text
