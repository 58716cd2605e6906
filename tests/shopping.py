"""Shopping through the API for the segment and promotion-limit tests: orders by customers, till sales
by loyalty id, and running the membership worker as the service would."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

from commerce.events.relay import relay_once
from commerce.segments.workers import run_once
from tests.conftest import ADMIN


async def order(
    client: httpx.AsyncClient,
    customer_id: str | None,
    *lines: tuple[str, int],
    channel: str = "web",
    store: str = "LOOP",
    codes: tuple[str, ...] = (),
    headers: dict[str, str] = ADMIN,
) -> httpx.Response:
    """A pickup order at `store` placed from a fresh cart (the customer's, or anonymous with None)."""
    body: dict[str, Any] = {"channel": channel}
    if customer_id is not None:
        body["customer_id"] = customer_id
    r = await client.post("/v1/carts", json=body, headers=headers)
    assert r.status_code == 201, r.text
    cart = r.json()["id"]
    for sku, qty in lines:
        r = await client.post(
            f"/v1/carts/{cart}/lines",
            json={"sku": sku, "quantity": qty, "fulfillment": {"type": "pickup", "store": store}},
            headers=headers,
        )
        assert r.status_code in (200, 201), r.text
    for code in codes:
        r = await client.post(f"/v1/carts/{cart}/codes", json={"code": code}, headers=headers)
        assert r.status_code in (200, 201), r.text
    return await client.post(
        f"/v1/carts/{cart}/checkout", json={}, headers={**headers, "Idempotency-Key": str(uuid.uuid4())}
    )


async def till(
    client: httpx.AsyncClient,
    store: str,
    loyalty_id: str | None,
    *lines: tuple[str, int, int],
    type: str = "sale",
    at: datetime | None = None,
) -> str:
    """One till event (lines of sku, quantity, unit price in USD cents); returns its event id."""
    event_id = uuid.uuid4().hex
    event: dict[str, Any] = {
        "event_id": event_id,
        "type": type,
        "occurred_at": (at or datetime.now(UTC)).isoformat(),
        "lines": [
            {"sku": sku, "quantity": q, "unit_price": {"amount": price, "currency": "USD"}} for sku, q, price in lines
        ],
    }
    if loyalty_id is not None:
        event["loyalty_id"] = loyalty_id
    r = await client.post(f"/v1/pos/{store}/events", json={"events": [event]}, headers=ADMIN)
    assert r.status_code == 200 and r.json()["results"][0]["status"] == "applied", r.text
    return event_id


async def sync(app: Any, now: datetime | None = None) -> None:
    """What the service's background workers do within a second or so: number committed events into the
    feed, then apply order events, rechecks and backfills to profiles and segments."""
    await relay_once(app.state.sessionmaker)
    await run_once(app.state.sessionmaker, app.state.settings, now)
