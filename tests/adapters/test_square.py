"""The Square adapter end to end: our service over HTTP on a test database (`live_service`), the adapter
daemon, and a Square emulator over HTTP on loopback, each on its own port."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar import Litestar
from sqlalchemy import text

from adapters.client import CommerceClient, RetryPolicy
from adapters.config import load_config, parse_config
from adapters.server import Daemon, serve_daemon
from adapters.shopify import daemon as shopify_daemon
from adapters.square import mapping
from adapters.square.client import SquareClient
from adapters.square.daemon import SquareAdapter
from adapters.square.webhooks import SquareReceiver
from adapters.state import AdapterState
from commerce.cli import main as commerce_cli
from commerce.inventory import service as inventory_service
from commerce.pos import rules
from commerce.pos.schemas import PosEventIn
from tests.adapters.emulators.shopify import ShopifyEmulator
from tests.adapters.emulators.square import SquareEmulator, serve_square
from tests.adapters.harness import free_port, wait_until
from tests.conftest import ADMIN, Api
from tests.stock import assert_conserved

STORE, LOCATION = "CHI-LOOP", "L8XJ2Q7KJ3W1"
FAST = RetryPolicy(attempts=40, timeout=20, wait_initial=0.02, wait_max=0.3, wait_jitter=0.02, max_retry_after=1.0)


@pytest.fixture
def square() -> Iterator[SquareEmulator]:
    with serve_square(SquareEmulator()) as emulator:
        yield emulator


@dataclass
class Running:
    adapter: SquareAdapter
    task: asyncio.Task[None]
    url: str

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(self.task, 15)  # a stuck shutdown fails the test's checks, not the run
        await self.adapter.square.aclose()
        await self.adapter.commerce.aclose()


@dataclass
class Harness:
    api: Api
    square: SquareEmulator
    commerce_url: str
    state_dir: Path
    port: int
    key: dict[str, str] | None = None
    running: Running | None = None
    started_stock_at: datetime = datetime(2026, 1, 1, tzinfo=UTC)

    @property
    def notification_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhooks/square"

    async def start(self) -> Running:
        """The daemon as `commerce adapter square` runs it, on the same state folder each time."""
        if self.key is None:
            self.key = await self.api.key("integration")
        token = self.key["Authorization"].removeprefix("Bearer ")
        commerce = CommerceClient(self.commerce_url, token, retry=FAST)
        client = SquareClient(self.square.base_url, self.square.access_token, retry=FAST)
        adapter = SquareAdapter(AdapterState(self.state_dir), commerce, client, {STORE: LOCATION}, poll_seconds=0.05)
        receiver = SquareReceiver(adapter.state, self.square.signature_key, self.notification_url, adapter.wake)
        daemon = Daemon("square", adapter.state, commerce, receiver, adapter.loops())
        started = asyncio.Event()
        task = asyncio.create_task(serve_daemon(daemon, "127.0.0.1", self.port, started=started))
        waiting = asyncio.create_task(started.wait())
        await asyncio.wait([waiting, task], timeout=10, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()  # the daemon could not start: say why
        assert started.is_set(), "the adapter did not start"
        self.square.notification_url = self.notification_url
        self.running = Running(adapter, task, f"http://127.0.0.1:{self.port}")
        return self.running

    async def stop(self) -> None:
        if self.running is not None:
            await self.running.stop()
            self.running = None

    async def settled(self, *, outbox: bool = True) -> None:
        """The adapter's inbox is empty (and, with `outbox`, Square has nothing left to deliver)."""
        state = self.running.adapter.state if self.running else AdapterState(self.state_dir)

        async def check() -> bool:
            with self.square.lock:
                waiting = len(self.square.outbox) if outbox else 0
            return waiting == 0 and not state.pending()

        await wait_until(check, what="deliveries to settle")

    async def level(self, sku: str) -> dict[str, Any]:
        r = await self.api.client.get(f"/v1/inventory/{STORE}/{sku}", headers=ADMIN)
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def ledger(self, sku: str) -> list[dict[str, Any]]:
        r = await self.api.client.get(f"/v1/inventory/{STORE}/{sku}/ledger?limit=500", headers=ADMIN)
        assert r.status_code == 200, r.text
        return list(r.json()["items"])

    async def count_here(self, sku: str, units: int, at: datetime) -> None:
        """Starting stock: a count at our store, long before anything the test does."""
        lines = [{"sku": sku, "quantity": units}]
        event = {"event_id": f"start-{sku}", "type": "count", "occurred_at": at.isoformat(), "lines": lines}
        r = await self.api.client.post(f"/v1/pos/{STORE}/events", json={"events": [event]}, headers=ADMIN)
        assert r.json()["results"][0]["status"] == "applied", r.text


@pytest.fixture
async def harness(api: Api, square: SquareEmulator, live_service: str, tmp_path: Path) -> AsyncIterator[Harness]:
    await api.store(STORE)
    h = Harness(api, square, live_service, tmp_path / "state", free_port())
    try:
        yield h
    finally:
        square.stop_sending()
        await h.stop()


START = timedelta(hours=2)


async def tee(h: Harness, skus: tuple[str, ...] = ("TEE-M",), stock: int = 10) -> list[str]:
    """Our product and its Square variations, with the same starting stock on both sides (as of
    `h.started_stock_at`)."""
    await h.api.product("tee", list(skus))
    ids = []
    start = h.started_stock_at = datetime.now(UTC) - START
    for sku in skus:
        variation = h.square.add_variation(sku)
        h.square.set_stock(LOCATION, variation, stock, at=start)
        await h.count_here(sku, stock, start)
        ids.append(variation)
    return ids


def pos_rows(ledger: list[dict[str, Any]], reason: str) -> list[dict[str, Any]]:
    return [row for row in ledger if row["reason"] == reason]


async def test_a_till_sale_lowers_available_once_and_joins_the_shoppers_history(harness: Harness) -> None:
    h = harness
    (variation,) = await tee(h)
    # Customers here: one known by her email, one by his phone (written another way).
    member = (await h.api.customer(email="ana@example.com"))["id"]
    regular = (await h.api.customer(phone="+1 (312) 555-0199"))["id"]
    loyalty_buyer = h.square.add_customer(loyalty_phone="+13125550100", email="ana@example.com")
    profile_buyer = h.square.add_customer(phone="+13125550199")  # no loyalty account: the profile's phone
    await h.start()
    h.square.start_sending(twice=True)  # Square may deliver each notification more than once

    first = h.square.ring_up(LOCATION, [(variation, "2")], customer_id=loyalty_buyer)
    second = h.square.ring_up(LOCATION, [(variation, "1.00000")], customer_id=profile_buyer)
    await h.settled()

    level = await h.level("TEE-M")
    assert (level["on_hand"], level["available"]) == (7, 7)
    sales = pos_rows(await h.ledger("TEE-M"), "pos_sale")
    assert sorted(row["reference"] for row in sales) == sorted([f"square-sale-{first}", f"square-sale-{second}"])
    for customer, order_id, other in [(member, first, second), (regular, second, first)]:
        history = (await h.api.client.get(f"/v1/customers/{customer}/orders", headers=ADMIN)).text
        assert f"square-sale-{order_id}" in history and f"square-sale-{other}" not in history
    # Our level goes back to Square as counts; whatever the interleaving, Square ends where we are.
    await wait_until(lambda: _square_has(h, variation, 7), what="Square's count to match ours")
    delivered = [event_id for event_id, status in h.square.delivered if status == 200]
    assert all(delivered.count(e["event_id"]) == 2 for e in h.square.events)


async def test_the_buyer_is_matched_by_email_then_phone_and_a_deleted_one_buys_anonymously(
    harness: Harness,
) -> None:
    h = harness
    (variation,) = await tee(h)
    ana = (await h.api.customer(email="ana@example.com"))["id"]
    lee = (await h.api.customer(phone="+1 312-555-0142"))["id"]
    # Ana's Square profile has her email and a loyalty account; Lee's an email unknown here and a loyalty
    # account on the phone we know him by (Square keeps it in E.164); Max's profile was deleted.
    ana_square = h.square.add_customer(email="ana@example.com", loyalty_phone="+13125550100")
    lee_square = h.square.add_customer(email="lee@elsewhere.example", loyalty_phone="+13125550142")
    max_square = h.square.add_customer(email="max@example.com", phone="+13125550177")
    h.square.delete_customer(max_square)
    # An address our customers cannot hold: the sale applies without its buyer (`customer_not_linked`).
    odd_square = h.square.add_customer(email="kim@localhost")
    await h.start()
    h.square.start_sending()

    units = 10

    async def sell(customer_id: str) -> str:
        """One sale, applied here before the next is rung up."""
        nonlocal units
        order_id = h.square.ring_up(LOCATION, [(variation, "1")], customer_id=customer_id)
        units -= 1

        async def applied() -> bool:
            return bool((await h.level("TEE-M"))["on_hand"] == units)

        await wait_until(applied, what=f"the sale of order {order_id}")
        await h.settled()
        return order_id

    ana_sales = [await sell(ana_square) for _ in range(3)]
    lee_sale = await sell(lee_square)
    max_sale = await sell(max_square)
    odd_sale = await sell(odd_square)
    assert h.running is not None and h.running.adapter.state.dead_letters() == []

    async def history(customer_id: str) -> list[str]:
        r = await h.api.client.get(f"/v1/customers/{customer_id}/orders", headers=ADMIN)
        return sorted(item["id"] for item in r.json()["items"])

    assert await history(ana) == sorted(f"square-sale-{o}" for o in ana_sales)
    assert await history(lee) == [f"square-sale-{lee_sale}"]
    # Lee was matched by his phone and left as he is; Max's sale counted, without a buyer.
    found = await h.api.client.get("/v1/customers", params={"email": "lee@elsewhere.example"}, headers=ADMIN)
    assert found.json()["items"] == []
    found = await h.api.client.get("/v1/customers", params={"email": "max@example.com"}, headers=ADMIN)
    assert found.json()["items"] == []
    sales = [row["reference"] for row in pos_rows(await h.ledger("TEE-M"), "pos_sale")]
    assert {f"square-sale-{max_sale}", f"square-sale-{odd_sale}"} <= set(sales)
    # Ana's profile was asked for once for her three sales (cached), the deleted one once too.
    assert h.square.retrieved_customers.count(ana_square) == 1
    assert h.square.retrieved_customers.count(max_square) == 1


async def test_a_buyer_known_here_by_the_loyalty_id_earlier_adapters_sent_stays_one_customer(
    harness: Harness,
) -> None:
    """Earlier versions of the adapter sent the loyalty phone as the sale's loyalty id, so customers were
    made holding only that. The buyer's next Square sale (with an email and the phone now) joins them."""
    h = harness
    (variation,) = await tee(h)
    known = (await h.api.customer(loyalty_id="+13125550100"))["id"]
    buyer = h.square.add_customer(email="ana@example.com", loyalty_phone="+13125550100")
    await h.start()
    h.square.start_sending()
    order_id = h.square.ring_up(LOCATION, [(variation, "1")], customer_id=buyer)
    await wait_until(lambda: _has_sale(h, "TEE-M"), what="the sale")
    await h.settled()
    r = await h.api.client.get(f"/v1/customers/{known}/orders", headers=ADMIN)
    assert [item["id"] for item in r.json()["items"]] == [f"square-sale-{order_id}"]
    found = await h.api.client.get("/v1/customers", params={"email": "ana@example.com"}, headers=ADMIN)
    assert found.json()["items"] == []  # no second customer for her


async def _square_has(h: Harness, variation: str, units: int) -> bool:
    return h.square.quantity(variation, LOCATION) == units


async def test_a_bad_signature_is_401_and_changes_nothing(harness: Harness) -> None:
    h = harness
    (variation,) = await tee(h)
    running = await h.start()
    h.square.ring_up(LOCATION, [(variation, 1)])
    event = h.square.forget_outbox()[1]  # an order.updated
    body = h.square.body_of(event)
    signed_for_other_url = h.square.headers_for(body, url="https://elsewhere.example/webhooks/square")
    tampered = body.replace(b'"version":2', b'"version":9')
    async with httpx.AsyncClient(base_url=running.url) as c:
        for content, headers in [
            (body, signed_for_other_url),
            (tampered, h.square.headers_for(body)),
            (body, {"content-type": "application/json"}),
        ]:
            r = await c.post("/webhooks/square", content=content, headers=headers)
            assert r.status_code == 401
        assert running.adapter.state.pending() == [] and running.adapter.state.dead_letters() == []
        assert (await h.level("TEE-M"))["on_hand"] == 10
        r = await c.post("/webhooks/square", content=body, headers=h.square.headers_for(body))
        assert r.status_code == 200 and r.json()["status"] == "accepted"
    await wait_until(lambda: _on_hand_is(h, "TEE-M", 9), what="the sale")


async def _on_hand_is(h: Harness, sku: str, units: int) -> bool:
    return int((await h.level(sku))["on_hand"]) == units


def expected_on_hand(
    square: SquareEmulator, notifications: list[dict[str, Any]], skus: dict[str, str], start: tuple[str, int, datetime]
) -> int:
    """The POS model (commerce/pos/rules.py) over the events these notifications stand for, each
    delivered once, in time order."""
    events: list[mapping.StoreEvent] = []
    stores = {LOCATION: STORE}
    for event in notifications:
        obj = event["data"]["object"]
        if event["type"] == "inventory.count.updated":
            events += [
                e
                for e in mapping.count_events(obj["inventory_counts"], stores, skus)
                if not isinstance(e, mapping.Problem)
            ]
        elif event["type"] == "order.updated":
            mapped = mapping.order_events(square.orders[event["data"]["id"]], stores, skus)
            assert isinstance(mapped, list)
            events += mapped
    sku, units, at = start
    changes = [rules.DatedChange(sku, at, units, True, "pos_count", "pos", "start")]
    unique = {e.event.event_id: e.event for e in events}
    for pos_event in unique.values():
        changes += rules.changes_of(msgspec.convert(msgspec.to_builtins(pos_event), PosEventIn))
    return rules.on_hand_in_order(changes)[sku]


async def test_redelivered_reordered_and_late_notifications_end_as_one_in_order_delivery(harness: Harness) -> None:
    h = harness
    h.square.announce_sale_counts = False  # counts only from the stocktake
    (variation,) = await tee(h)
    await h.start()
    first = h.square.ring_up(LOCATION, [(variation, 2)])
    h.square.ring_return(LOCATION, first, [(variation, 1)])
    h.square.stocktake(LOCATION, variation, 6)
    counted_at = datetime.now(UTC)
    await asyncio.sleep(0.01)
    # Rung up before the stocktake, reported after it: the count already reflects it.
    h.square.ring_up(LOCATION, [(variation, 3)], at=counted_at - timedelta(seconds=5))
    h.square.ring_up(LOCATION, [(variation, 1)])
    notifications = h.square.forget_outbox()

    for event in reversed(notifications):
        assert await h.square.send(event) == 200
    for event in notifications[::2]:
        assert await h.square.send(event) == 200
    await h.settled(outbox=False)

    model = expected_on_hand(h.square, notifications, {variation: "TEE-M"}, ("TEE-M", 10, h.started_stock_at))
    assert model == 5 == (await h.level("TEE-M"))["on_hand"]
    assert h.square.quantity(variation, LOCATION) == 5
    ledger = await h.ledger("TEE-M")
    assert len(pos_rows(ledger, "pos_sale")) == 3 and len(pos_rows(ledger, "pos_return")) == 1
    assert next(row["note"] for row in pos_rows(ledger, "pos_sale") if row["delta"] == 0).startswith("before count")


async def test_an_unknown_catalog_object_waits_in_the_dead_letters_until_replayed(harness: Harness) -> None:
    h = harness
    (known,) = await tee(h)
    unknown = h.square.add_variation(None, name="Scarf")
    h.square.set_stock(LOCATION, unknown, 5)
    running = await h.start()
    h.square.start_sending()
    h.square.ring_up(LOCATION, [(known, 1), (unknown, 1)])
    await h.settled()
    async with httpx.AsyncClient(base_url=running.url) as c:
        letters = (await c.get("/dead-letters")).json()["items"]
        assert {letter["code"] for letter in letters} == {"unknown_catalog_object"}
        assert all(unknown in letter["reason"] for letter in letters)
        assert pos_rows(await h.ledger("TEE-M"), "pos_sale") == []  # never half a sale
        health = (await c.get("/health")).json()
        assert health["dead_letters"] == len(letters) and health["inbox_pending"] == 0

    await h.api.product("scarf", ["SCARF"])
    h.square.set_sku(unknown, "SCARF")
    config = h.state_dir.parent / "adapter.toml"
    config.write_text(_config_text(h))
    result = await asyncio.to_thread(
        CliRunner().invoke, commerce_cli, ["adapter", "square", "replay", "--all", "--config", str(config)]
    )
    assert result.exit_code == 0, result.output
    running.adapter.wake.set()
    await wait_until(lambda: _has_sale(h, "TEE-M"), what="the replayed sale")
    assert (await h.level("TEE-M"))["on_hand"] == 9  # Square's count after the sale, which came first
    await wait_until(lambda: _on_hand_is(h, "SCARF", 4), what="Square's count of the scarf")
    assert running.adapter.state.dead_letters() == []


async def _has_sale(h: Harness, sku: str) -> bool:
    return bool(pos_rows(await h.ledger(sku), "pos_sale"))


def _config_text(h: Harness) -> str:
    assert h.key is not None
    return f"""
[commerce]
url = "{h.commerce_url}"
key = "{h.key["Authorization"].removeprefix("Bearer ")}"

[listen]
host = "127.0.0.1"
port = {h.port}

[state]
dir = "{h.state_dir}"

[square]
base_url = "{h.square.base_url}"
access_token = "{h.square.access_token}"
signature_key = "{h.square.signature_key}"
notification_url = "{h.notification_url}"
[square.locations]
"{STORE}" = "{LOCATION}"
"""


async def test_square_failing_for_a_while_and_a_restart_lose_and_double_nothing(harness: Harness) -> None:
    h = harness
    h.square.announce_sale_counts = False  # so each sale's own delta shows in the ledger
    (variation,) = await tee(h, stock=20)
    await h.start()
    h.square.start_sending()
    h.square.fail_next(4, status=429, retry_after=1)  # RATE_LIMITED, honouring Retry-After
    h.square.ring_up(LOCATION, [(variation, 1)])
    await wait_until(lambda: _on_hand_is(h, "TEE-M", 19), what="the first sale through a 429")

    h.square.fail_for(1.0, status=503)
    sold = [h.square.ring_up(LOCATION, [(variation, 2)]) for _ in range(3)]
    await asyncio.sleep(0.3)
    await h.stop()  # the adapter goes down while Square is failing; deliveries meanwhile fail and are retried
    sold.append(h.square.ring_up(LOCATION, [(variation, 1)]))
    await asyncio.sleep(0.3)
    await h.start()
    await h.settled()

    await wait_until(lambda: _on_hand_is(h, "TEE-M", 12), what="every sale once")
    sales = pos_rows(await h.ledger("TEE-M"), "pos_sale")
    assert len(sales) == 5 and sum(row["delta"] for row in sales) == -8
    assert {f"square-sale-{o}" for o in sold} <= {row["reference"] for row in sales}

    async def square_agrees() -> bool:
        return h.square.quantity(variation, LOCATION) == 12

    await wait_until(square_agrees, what="Square's count to match ours")


async def test_sales_rung_up_back_to_back_among_changes_here_are_lost_on_neither_side(
    harness: Harness, db_conn: Any
) -> None:
    """Square sales we have not applied yet when we push a change of ours: the push must not undo them
    on Square, nor Square's next count undo them here. Webhooks are held until our changes reached
    Square, so the sales are always older than our pushes (the race, every run)."""
    h = harness
    (variation,) = await tee(h)
    await h.start()  # Square queues its notifications from here on; none is delivered yet
    sold = [h.square.ring_up(LOCATION, [(variation, 1)]) for _ in range(3)]
    pushes = len(h.square.batch_requests)
    r = await h.api.client.post(
        "/v1/inventory/adjustments",
        json={"store": STORE, "sku": "TEE-M", "delta": 4, "reason": "receipt"},
        headers={**ADMIN, "Idempotency-Key": "receipt-1"},
    )
    assert r.status_code == 201, r.text

    async def pushed() -> bool:
        return len(h.square.batch_requests) > pushes

    await wait_until(pushed, what="our receipt to reach Square")
    # A pickup order at the Square store: reserved here, on_hand unchanged on both sides.
    cart = (await h.api.client.post("/v1/carts", json={"channel": "web"}, headers=ADMIN)).json()["id"]
    line = {"sku": "TEE-M", "quantity": 2, "fulfillment": {"type": "pickup", "store": STORE}}
    assert (await h.api.client.post(f"/v1/carts/{cart}/lines", json=line, headers=ADMIN)).status_code in (200, 201)
    r = await h.api.client.post(
        f"/v1/carts/{cart}/checkout", json={"email": "kim@example.com"}, headers={**ADMIN, "Idempotency-Key": "co-1"}
    )
    assert r.status_code == 201, r.text
    sold += [h.square.ring_up(LOCATION, [(variation, 1)]) for _ in range(2)]
    r = await h.api.client.post(
        "/v1/inventory/adjustments",
        json={"store": STORE, "sku": "TEE-M", "delta": -1, "reason": "damage"},
        headers={**ADMIN, "Idempotency-Key": "damage-1"},
    )
    assert r.status_code == 201, r.text
    await asyncio.sleep(0.5)  # our changes go out while Square's sales still wait
    h.square.start_sending()
    await h.settled()

    # One in-order application: 10, five sales, +4 received, one damaged; two units held for pickup.
    async def agreed() -> bool:
        level = await h.level("TEE-M")
        return (level["on_hand"], level["reserved"], h.square.quantity(variation, LOCATION)) == (8, 2, 8)

    try:
        await wait_until(agreed, within=10, what="both sides at 8")
    except AssertionError:
        level = await h.level("TEE-M")
        here, there = (level["on_hand"], level["reserved"]), h.square.quantity(variation, LOCATION)
        raise AssertionError(f"here (on_hand, reserved) {here}, Square {there}; expected (8, 2) and 8") from None
    sales = pos_rows(await h.ledger("TEE-M"), "pos_sale")
    assert sorted(row["reference"] for row in sales) == sorted(f"square-sale-{o}" for o in sold)
    await assert_conserved(db_conn)


async def test_a_change_here_that_reaches_square_after_its_sales_is_not_undone_by_their_counts(
    harness: Harness, db_conn: Any
) -> None:
    """Square announces a count after each sale. When our receipt is older than such a count but had
    not reached Square yet (Square was down), the count does not include it and, applied here, sets
    on_hand back as of its time; Square's count after our receipt arrived must then bring it back."""
    h = harness
    (variation,) = await tee(h)
    await h.start()
    h.square.start_sending()
    h.square.fail_for(1.5, status=503)  # our receipt cannot reach Square for a while
    r = await h.api.client.post(
        "/v1/inventory/adjustments",
        json={"store": STORE, "sku": "TEE-M", "delta": 4, "reason": "receipt"},
        headers={**ADMIN, "Idempotency-Key": "receipt-1"},
    )
    assert r.status_code == 201, r.text
    sold = [h.square.ring_up(LOCATION, [(variation, 1)]) for _ in range(2)]  # counted on Square without it
    await h.settled()

    async def agreed() -> bool:
        return (await h.level("TEE-M"))["on_hand"] == h.square.quantity(variation, LOCATION) == 12

    try:
        await wait_until(agreed, within=10, what="both sides at 12")
    except AssertionError:
        here, there = (await h.level("TEE-M"))["on_hand"], h.square.quantity(variation, LOCATION)
        raise AssertionError(f"on_hand here {here}, Square {there}; expected 12 on both") from None
    sales = pos_rows(await h.ledger("TEE-M"), "pos_sale")
    assert sorted(row["reference"] for row in sales) == sorted(f"square-sale-{o}" for o in sold)
    await assert_conserved(db_conn)


async def test_changes_committed_out_of_start_order_before_the_first_push_all_reach_square(
    harness: Harness, app: Litestar
) -> None:
    """A ledger row's `at` is when its transaction started. One that started first but waited for the
    level's row lock commits after a later one: both are in the adapter's first page for the level, the
    later-started one first, and both of their changes must reach Square."""
    h = harness
    await h.api.product("tee", ["TEE-M"])
    variation = h.square.add_variation("TEE-M")
    h.square.set_stock(LOCATION, variation, 0, at=datetime.now(UTC) - START)
    async with app.state.sessionmaker() as early, early.begin():
        await early.execute(text("SELECT 1"))  # its transaction (and its `at`) starts here
        r = await h.api.client.post(
            "/v1/inventory/adjustments",
            json={"store": STORE, "sku": "TEE-M", "delta": 5, "reason": "receipt"},
            headers={**ADMIN, "Idempotency-Key": "receipt-later"},
        )
        assert r.status_code == 201, r.text
        await inventory_service.adjust_on_hand(early, STORE, "TEE-M", delta=3, reason="receipt", source="test")
    ledger = await h.ledger("TEE-M")
    assert [row["delta"] for row in ledger] == [3, 5]  # newest first: the early one committed last
    assert datetime.fromisoformat(ledger[0]["at"]) < datetime.fromisoformat(ledger[1]["at"])
    await h.start()
    h.square.start_sending()

    async def pushed() -> bool:
        return h.square.quantity(variation, LOCATION) == 8

    try:
        await wait_until(pushed, within=10, what="both receipts in Square")
    except AssertionError:
        raise AssertionError(f"Square holds {h.square.quantity(variation, LOCATION)}; expected 8") from None


async def test_a_late_count_here_is_not_topped_up_in_square_by_the_changes_it_already_holds(
    harness: Harness,
) -> None:
    """A till's count taken before a change that Square already has arrives after it: here it is the
    count plus that change. Dated as taken, Square would apply the change on top of it once more."""
    h = harness
    (variation,) = await tee(h)
    await h.start()  # Square's count notifications are not delivered: its count after our damage would
    taken = datetime.now(UTC)  # otherwise move the count time here past the till's
    r = await h.api.client.post(
        "/v1/inventory/adjustments",
        json={"store": STORE, "sku": "TEE-M", "delta": -1, "reason": "damage"},
        headers={**ADMIN, "Idempotency-Key": "damage-1"},
    )
    assert r.status_code == 201, r.text
    await wait_until(lambda: _square_has(h, variation, 9), what="the damage in Square")
    lines = [{"sku": "TEE-M", "quantity": 12}]  # two more than thought (Square would ignore an unchanged 9)
    event = {"event_id": "till-count-1", "type": "count", "occurred_at": taken.isoformat(), "lines": lines}
    r = await h.api.client.post(f"/v1/pos/{STORE}/events", json={"events": [event]}, headers=ADMIN)
    assert r.json()["results"][0]["status"] == "applied", r.text
    assert (await h.level("TEE-M"))["on_hand"] == 11  # the count, then the damage recorded as after it

    async def count_pushed() -> bool:
        return any(
            change["type"] == "PHYSICAL_COUNT" and change["physical_count"]["quantity"] == "11"
            for body in h.square.batch_requests
            for change in body["changes"]
        )

    await wait_until(count_pushed, what="the count in Square")
    assert h.square.quantity(variation, LOCATION) == 11


async def test_a_push_resent_after_a_crash_is_applied_once_by_square(harness: Harness) -> None:
    """The adapter saves a batch before sending it; crashing after Square applied it but before the
    cursor moved, it sends the same batch again, which Square (same idempotency key) applies once."""
    h = harness
    (variation,) = await tee(h)
    await h.start()
    h.square.start_sending()

    async def started() -> bool:
        return AdapterState(h.state_dir).cursor() > 0 and await _pending_push_gone(h)

    await wait_until(started, what="the starting count sent")
    h.square.fail_for(60, status=503)
    r = await h.api.client.post(
        "/v1/inventory/adjustments",
        json={"store": STORE, "sku": "TEE-M", "delta": 3, "reason": "receipt"},
        headers={**ADMIN, "Idempotency-Key": "receipt-1"},
    )
    assert r.status_code == 201, r.text

    async def saved() -> bool:
        return bool(AdapterState(h.state_dir).load("square-outbound").get("bodies"))

    await wait_until(saved, what="the batch saved while Square is down")
    await h.stop()
    before = {
        p.name: p.read_bytes() for p in h.state_dir.rglob("*.json") if p.parent.name == "docs" or "cursor" in p.name
    }
    h.square.fail_for(0, status=503)
    await h.start()
    await wait_until(lambda: _square_has(h, variation, 13), what="the receipt on Square")
    await wait_until(lambda: _pending_push_gone(h), what="the push confirmed")
    await h.stop()
    for path in h.state_dir.rglob("*.json"):  # as if the adapter had died before confirming the push
        if path.name in before:
            path.write_bytes(before[path.name])
    await h.start()
    await wait_until(lambda: _pending_push_gone(h), what="the push confirmed again")
    assert h.square.quantity(variation, LOCATION) == 13
    receipts = [
        c for c in h.square.inventory_changes if c["type"] == "ADJUSTMENT" and c["adjustment"]["to_state"] == "IN_STOCK"
    ]
    assert len(receipts) == 1 and receipts[0]["adjustment"]["quantity"] == "3"
    assert (await h.level("TEE-M"))["on_hand"] == 13


async def _pending_push_gone(h: Harness) -> bool:
    return "cursor" not in AdapterState(h.state_dir).load("square-outbound")


async def test_catch_up_recovers_missed_notifications_from_the_events_api(harness: Harness) -> None:
    h = harness
    (variation,) = await tee(h)
    h.square.notification_url = h.notification_url
    for units in (1, 2):
        h.square.ring_up(LOCATION, [(variation, units)])
    h.square.stocktake(LOCATION, variation, 4)
    h.square.forget_outbox()  # the adapter was never told
    h.key = await h.api.key("integration")
    config = h.state_dir.parent / "adapter.toml"
    config.write_text(_config_text(h))
    since = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S%z")
    args = ["adapter", "square", "catch-up", "--since", since, "--config", str(config)]

    first = await asyncio.to_thread(CliRunner().invoke, commerce_cli, args)
    assert first.exit_code == 0, first.output
    assert (await h.level("TEE-M"))["on_hand"] == 4
    again = await asyncio.to_thread(CliRunner().invoke, commerce_cli, args)
    assert again.exit_code == 0 and f"read {len(h.square.events)} event(s)" in again.output
    assert ", 0 not received before" in again.output
    ledger = await h.ledger("TEE-M")
    assert len(pos_rows(ledger, "pos_sale")) == 2 and (await h.level("TEE-M"))["on_hand"] == 4
    assert load_config(config, "square").require_square().locations == {STORE: LOCATION}


async def test_our_counts_reach_square_in_batches_of_at_most_100(harness: Harness) -> None:
    h = harness
    skus = tuple(f"SKU-{i:03d}" for i in range(150))
    await h.api.product("many", list(skus))
    variations = {sku: h.square.add_variation(sku) for sku in skus}
    await h.start()
    h.square.start_sending()
    counted = datetime.now(UTC)
    event = {
        "event_id": "stocktake-1",
        "type": "count",
        "occurred_at": counted.isoformat(),
        "lines": [{"sku": sku, "quantity": i + 1} for i, sku in enumerate(skus)],
    }
    r = await h.api.client.post(f"/v1/pos/{STORE}/events", json={"events": [event]}, headers=ADMIN)
    assert r.json()["results"][0]["status"] == "applied"

    async def all_there() -> bool:
        return all(h.square.quantity(variations[sku], LOCATION) == i + 1 for i, sku in enumerate(skus))

    await wait_until(all_there, what="our counts in Square")
    await h.settled()
    sizes = [len(body["changes"]) for body in h.square.batch_requests]
    assert max(sizes) <= 100 and sum(sizes) == 150
    assert len({body["idempotency_key"] for body in h.square.batch_requests}) == len(sizes)
    change = h.square.batch_requests[0]["changes"][0]
    assert change["type"] == "PHYSICAL_COUNT" and change["physical_count"]["state"] == "IN_STOCK"
    # Square's announcement of our own counts is not applied back as a count of its own.
    assert all(not row["reference"].startswith("square-count") for row in await h.ledger("SKU-000"))


EXAMPLES = itertools.count()


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_any_interleaving_of_sales_returns_and_counts_matches_the_pos_model(
    harness: Harness, data: st.DataObject
) -> None:
    h = harness
    example = next(EXAMPLES)  # a fresh SKU per example: examples share the database and the adapter
    sku = f"H-{example}"
    await h.api.product(f"p{example}", [sku])
    variation = h.square.add_variation(sku)
    start = datetime.now(UTC) - timedelta(hours=1)
    h.square.set_stock(LOCATION, variation, 50, at=start)
    await h.count_here(sku, 50, start)
    if h.running is None:
        await h.start()
    h.square.announce_sale_counts = data.draw(st.booleans(), label="counts after sales")
    h.square.forget_outbox()
    sales: list[str] = []
    for op in data.draw(st.lists(st.sampled_from(["sale", "return", "count", "late sale"]), min_size=1, max_size=6)):
        units = data.draw(st.integers(1, 4))
        if op == "sale":
            sales.append(h.square.ring_up(LOCATION, [(variation, units)], updates=1))
        elif op == "late sale":
            back = timedelta(seconds=data.draw(st.integers(1, 600)))
            sales.append(h.square.ring_up(LOCATION, [(variation, units)], at=datetime.now(UTC) - back, updates=1))
        elif op == "return":
            h.square.ring_return(LOCATION, sales[-1] if sales else None, [(variation, units)])
        else:
            # Never below what later sales take: Square's count stays >= 0, as our counts must be.
            h.square.stocktake(LOCATION, variation, data.draw(st.integers(30, 60)))
        await asyncio.sleep(0.002)
    notifications = h.square.forget_outbox()
    # Shapes drawn independently of how many notifications Square made (a stocktake that changes
    # nothing makes none), so hypothesis can replay and shrink: a sort key per notification, and
    # redeliveries as indexes.
    keys = data.draw(st.lists(st.integers(0, 10**6), min_size=64, max_size=64), label="delivery order")
    again = data.draw(st.lists(st.integers(0, 63), max_size=4), label="redeliveries")
    order = [event for _, event in sorted(zip(keys, notifications, strict=False), key=lambda p: p[0])]
    repeats = [notifications[i % len(notifications)] for i in again] if notifications else []
    assert len(notifications) <= len(keys)
    for event in [*order, *repeats]:
        assert await h.square.send(event) == 200
    await h.settled(outbox=False)

    model = expected_on_hand(h.square, notifications, {variation: sku}, (sku, 50, start))
    assert (await h.level(sku))["on_hand"] == model


async def test_the_omnichannel_loop_a_square_sale_reaches_shopifys_location(harness: Harness, tmp_path: Path) -> None:
    """Square store sale -> our inventory -> Shopify's location for that store, both adapters running."""
    h = harness
    (variation,) = await tee(h)
    shopify = ShopifyEmulator()
    async with shopify.serve():
        location = shopify.add_location("Chicago Loop")
        shopify.add_variant("TEE-M", stocked_at={location: 10})
        await h.start()
        h.square.start_sending()
        assert h.key is not None
        port = free_port()
        config = parse_config(
            f"""
[commerce]
url = "{h.commerce_url}"
key = "{h.key["Authorization"].removeprefix("Bearer ")}"
[listen]
host = "127.0.0.1"
port = {port}
[state]
dir = "{tmp_path / "shopify-state"}"
[shopify]
shop_url = "{shopify.url}"
access_token = "{shopify.access_token}"
webhook_secret = "{shopify.webhook_secret}"
[shopify.locations]
"{STORE}" = "{location}"
""",
            str(tmp_path / "shopify.toml"),
            "shopify",
        )
        started = asyncio.Event()
        task = asyncio.create_task(shopify_daemon.run(config, retry=FAST, started=started))
        try:
            await asyncio.wait_for(started.wait(), 10)
            shopify.webhook_url = f"http://127.0.0.1:{port}/webhooks/shopify"

            h.square.ring_up(LOCATION, [(variation, 3)])

            async def shopify_has_it() -> bool:
                return shopify.available("TEE-M", location) == 7

            await wait_until(shopify_has_it, what="the Square sale at Shopify's location")
            assert (await h.level("TEE-M"))["available"] == 7
            await h.settled()
            await shopify.settle()
            assert shopify.available("TEE-M", location) == 7
            assert h.square.quantity(variation, LOCATION) == 7
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
