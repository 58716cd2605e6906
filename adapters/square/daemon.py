"""The Square adapter: Square's sales, returns and counts into our POS sync; our counts back to Square.

Inbound, every stored notification (webhook or Events API) is applied from the inbox:

- `order.created` / `order.updated` naming a COMPLETED order, and `refund.created` / `refund.updated`
  of a COMPLETED refund (naming its return order), fetch the full order, map it (a sale, and one
  return per `returns[]` entry) and send it as POS events at the mapped store, with the buyer (the
  Square customer's email, and the phone of their loyalty account as the loyalty id and the phone,
  else their profile's phone) as the events' `customer`;
- `inventory.count.updated` becomes one `count` per IN_STOCK count, as of `calculated_at`, except
  Square's echo of a count this adapter itself pushed.

A delivery leaves the inbox only after our API answered `applied` or `duplicate` for every event it
made, so a crash or an outage at any point means it is applied again later, where our POS sync's
exactly-once rule (per store and event id) makes the repeat change nothing. What cannot be applied
(an unknown catalog object, location or SKU, a fractional quantity, an event our API rejects) goes
to the dead letters with the reason; a replay puts it back in the inbox.

Outbound, the adapter follows our event feed (`inventory.changed`) and, for each level of a mapped store
that moved, reads its ledger since the last entry sent and sends Square what was done here: a count
taken here (a stock count, a POS count not from Square) as a PHYSICAL_COUNT of on_hand after it, as of
when it was applied here (a late count's result already holds the changes recorded as after it, which
Square would add again on top of a count dated as taken), and every other change to on_hand (receipts,
damage, collected and shipped orders, corrections) as an ADJUSTMENT of its size; a level's changes are
never dated earlier than the one sent before them, so Square applies them in our ledger's order. Square computes a quantity from the newest physical count by `occurred_at` plus
the adjustments after it, so an adjustment adds to whatever Square holds, including sales rung up there
that we have not applied yet; sending our level as a count instead would set Square back to a number that
misses those sales, and Square's next count would then make us drop them too. Square's own sales,
returns and counts applied here (our POS events `square-...`) are not sent back, nor are holds, which
do not move on_hand. Square announces the count after each of our pushes: after a PHYSICAL_COUNT it is
not applied back (it is our own count); after an ADJUSTMENT it is, since a count Square announced for one
of its sales before our change reached it (Square down, say) has set on_hand here without our change as
of a later time, and Square's count with our change in it puts it back. The batches are saved before they are sent and sent unchanged until Square accepted
them (Square applies a repeated idempotency key once); the cursor moves only then.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import msgspec

from adapters.client import CommerceClient, CommerceRejected, CommerceUnavailable
from adapters.server import run_loop_forever
from adapters.square import mapping
from adapters.square.client import SquareClient, SquareRejected, SquareUnavailable
from adapters.square.mapping import Change, Json, PosCustomer, Problem, StoreEvent
from adapters.square.webhooks import COUNT_TOPIC, ORDER_TOPICS, REFUND_TOPICS, TOPICS, delivery_key
from adapters.state import AdapterState, InboxItem

log = logging.getLogger("adapters.square")

OUTBOUND_TOPIC = "commerce/inventory.changed"
MAX_POS_BATCH = 1000
INBOX_ROUND = 500  # deliveries handled per round
MAX_PAUSE = 30.0  # longest wait between inbox rounds while a side is down
DONE_RETENTION = 7 * 24 * 3600.0
ECHO_MEMORY = 20  # counts of our pushes remembered per (variation, location)
# How far before a level's first change in the feed its ledger is searched when no entry carries that
# change's time (see SquareAdapter._ledger_since).
LEDGER_SLACK = timedelta(minutes=10)
BUYER_TTL = 24 * 3600.0  # how long a Square customer's email and phones are reused without asking again
BUYER_VERSION = 2  # cached buyers of another version (without the loyalty id) are asked for again


def rfc3339(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class _Work:
    """What one inbox item turned into: events to send, or why it cannot be applied."""

    item: InboxItem
    events: list[StoreEvent] = field(default_factory=list)
    problem: Problem | None = None
    waiting: bool = False  # Square or our API unavailable: stays in the inbox


class SquareAdapter:
    def __init__(
        self,
        state: AdapterState,
        commerce: CommerceClient,
        square: SquareClient,
        locations: dict[str, str],
        *,
        poll_seconds: float = 1.0,
    ) -> None:
        self.state, self.commerce, self.square = state, commerce, square
        self.locations = dict(locations)  # store code -> Square location id
        self.stores = {location: store for store, location in locations.items()}
        self.skus = state.id_map("square-skus")  # catalog object id -> SKU
        self.buyer_cache = state.id_map("square-buyers")  # Square customer id -> {buyer, at} (JSON)
        self.poll_seconds = poll_seconds
        self._pause = poll_seconds
        self._pushing: set[str] = set()  # (variation|location) of pushes in flight
        self.wake = asyncio.Event()

    # --- catalog: Square variation ids <-> our SKUs ----------------------------------------------

    async def refresh_catalog(self) -> None:
        """Fetch variations changed since the last refresh (all on the first) into the cached map."""
        doc = self.state.load("square-catalog")
        objects, latest = await self.square.variations(doc.get("latest_time"))
        pairs = {}
        for obj in objects:
            sku = mapping.sku_of_variation(obj)
            if sku is not None and isinstance(obj.get("id"), str):
                pairs[obj["id"]] = sku
        self.skus.update(pairs)
        if latest:
            self.state.save("square-catalog", {"latest_time": latest})

    async def sku_map(self, catalog_object_ids: Iterable[str]) -> dict[str, str]:
        ids = set(catalog_object_ids)
        if ids - self.skus.values.keys():
            await self.refresh_catalog()
        return {i: sku for i in ids if (sku := self.skus.get(i)) is not None}

    async def catalog_ids(self, skus: Iterable[str]) -> dict[str, str]:
        """SKU -> Square variation id, from the cache, then a refresh, then Square's search by SKU."""
        wanted = set(skus)
        by_sku = self.skus.inverse()
        if wanted - by_sku.keys():
            await self.refresh_catalog()
            by_sku = self.skus.inverse()
            for sku in sorted(wanted - by_sku.keys()):
                obj = await self.square.variation_by_sku(sku)
                if obj is not None and mapping.sku_of_variation(obj) == sku:
                    self.skus.update({obj["id"]: sku})
            by_sku = self.skus.inverse()
        return {sku: by_sku[sku] for sku in wanted if sku in by_sku}

    # --- customers: the buyer's email and loyalty phone as the sale's customer ----------------

    async def buyers(self, customer_ids: Iterable[str]) -> dict[str, PosCustomer | None]:
        """Each Square customer as our POS event's `customer` (see mapping.buyer), or None when Square
        knows neither an email nor a phone (e.g. a deleted customer).

        Answers are cached in the state folder for BUYER_TTL seconds (a buyer's many sales, and a delivery
        retried, ask Square once); loyalty accounts are searched 30 customers a call. A refusal (no
        CUSTOMERS_READ or LOYALTY_READ scope) is not cached, so a scope granted later is used; the sale
        still counts meanwhile, with what is known. SquareUnavailable propagates: the deliveries wait."""
        now = time.time()
        found: dict[str, PosCustomer | None] = {}
        stale: list[str] = []
        for customer_id in sorted(set(customer_ids)):
            cached = self.buyer_cache.get(customer_id)
            doc = msgspec.json.decode(cached) if cached else None
            if isinstance(doc, dict) and now - float(doc.get("at", 0)) < BUYER_TTL and doc.get("v") == BUYER_VERSION:
                found[customer_id] = msgspec.convert(doc["buyer"], PosCustomer | None)
            else:
                stale.append(customer_id)
        if not stale:
            return found
        accounts: dict[str, list[Json]] = defaultdict(list)
        complete = True
        try:
            for account in await self.square.loyalty_accounts(stale):
                accounts[str(account.get("customer_id"))].append(account)
        except SquareRejected as exc:  # no LOYALTY_READ scope, or no loyalty program
            log.info("loyalty search refused: %s", exc)
            complete = False
        fresh: dict[str, str] = {}
        for customer_id in stale:
            try:
                customer = await self.square.customer(customer_id)  # None: deleted
                cacheable = complete
            except SquareRejected as exc:  # no CUSTOMERS_READ scope
                log.warning("customer lookup refused: %s", exc, extra={"customer_id": customer_id})
                customer, cacheable = None, False
            found[customer_id] = mapping.buyer(customer, accounts.get(customer_id, []))
            if cacheable:
                doc = {"buyer": found[customer_id], "at": now, "v": BUYER_VERSION}
                fresh[customer_id] = msgspec.json.encode(doc).decode()
        self.buyer_cache.update(fresh)
        return found

    # --- inbound: the inbox ------------------------------------------------------------------

    async def apply_pending(self) -> int:
        """Apply what the inbox holds; returns how many deliveries left it (applied or dead)."""
        items = self.state.pending()[:INBOX_ROUND]
        if not items:
            return 0
        works = [_Work(item) for item in items]
        order_ids: dict[str, str] = {}  # item id -> order id to fetch
        counts: dict[str, list[dict[str, Any]]] = {}
        outbound: list[_Work] = []
        for work in works:
            topic, payload = work.item.topic, work.item.payload()
            obj = ((payload or {}).get("data") or {}).get("object") or {}
            if topic in ORDER_TOPICS:
                thin = obj.get(topic.replace(".", "_")) or {}
                if thin.get("state") == "COMPLETED" and isinstance(thin.get("order_id"), str):
                    order_ids[work.item.id] = thin["order_id"]
            elif topic in REFUND_TOPICS:
                refund = obj.get("refund") or {}
                if refund.get("status") == "COMPLETED" and isinstance(refund.get("order_id"), str):
                    order_ids[work.item.id] = refund["order_id"]
            elif topic == COUNT_TOPIC:
                counts[work.item.id] = list(obj.get("inventory_counts") or [])
            elif topic == OUTBOUND_TOPIC:
                outbound.append(work)

        try:
            orders = {o["id"]: o for o in await self.square.orders(list(order_ids.values()))} if order_ids else {}
            wanted = {c for o in orders.values() for c in mapping.catalog_ids_of_order(o)}
            wanted |= mapping.catalog_ids_of_counts(c for cs in counts.values() for c in cs)
            skus = await self.sku_map(wanted)
            buyers = await self.buyers(c for o in orders.values() if isinstance(c := o.get("customer_id"), str) and c)
        except SquareUnavailable as exc:
            log.warning("Square unavailable; %d deliveries wait: %s", len(items), exc)
            for item in items:
                self.state.count_attempt(item)
            return 0
        except SquareRejected as exc:
            # Refusals here (401, 403: the token or its scopes) hold for every delivery alike: they
            # wait in the inbox (see /health) until the config is fixed, rather than all going dead.
            log.error("Square refused the adapter (check the access token and its scopes): %s", exc)
            for item in items:
                self.state.count_attempt(item)
            return 0

        pushed = self.state.load("square-pushed")  # read only here
        for work in works:
            ident = work.item.id
            if ident in order_ids:
                order = orders.get(order_ids[ident])
                if order is None:
                    work.problem = Problem("order_not_found", f"Square has no order {order_ids[ident]}.")
                    continue
                buyer = buyers.get(order.get("customer_id") or "")
                mapped = mapping.order_events(order, self.stores, skus, buyer)
                if isinstance(mapped, Problem):
                    work.problem = mapped
                else:
                    work.events = mapped
            elif ident in counts:
                if any(_pair(c) in self._pushing for c in counts[ident]):
                    work.waiting = True  # maybe the echo of a push still in flight: decide once it is answered
                    continue
                fresh = [c for c in counts[ident] if not _is_echo(c, pushed)]
                for outcome in mapping.count_events(fresh, self.stores, skus):
                    if isinstance(outcome, Problem):
                        work.problem = work.problem or outcome
                    else:
                        work.events.append(outcome)

        await self._send(works)
        for work in outbound:
            work.waiting = not await self._replay_outbound(work.item)

        finished = [w for w in works if not w.waiting and w.item.topic != OUTBOUND_TOPIC]
        # Hundreds of fsyncs: off the event loop, so webhooks are still answered meanwhile.
        await asyncio.to_thread(self._finish, finished)
        return len(finished)

    def _finish(self, works: Sequence[_Work]) -> None:
        for work in works:
            if work.problem is not None:
                self.state.dead_letter(work.item, work.problem.detail, work.problem.code)
            else:
                self.state.mark_done(work.item)

    async def _send(self, works: Sequence[_Work]) -> None:
        """Send every work's events, grouped per store in batches; set each work's outcome."""
        per_store: dict[str, list[tuple[_Work, dict[str, Any]]]] = defaultdict(list)
        for work in works:
            for store, event in work.events:
                per_store[store].append((work, msgspec.to_builtins(event)))
        for store, pairs in per_store.items():
            for start in range(0, len(pairs), MAX_POS_BATCH):
                anonymous = await self._send_batch(store, pairs[start : start + MAX_POS_BATCH])
                if anonymous:
                    # A server that still rejects an event for its buyer's identifiers (current ones apply it
                    # without them, `customer_not_linked`): the sale still counts, without its buyer.
                    await self._send_batch(store, anonymous)

    async def _send_batch(
        self, store: str, chunk: Sequence[tuple[_Work, dict[str, Any]]]
    ) -> list[tuple[_Work, dict[str, Any]]]:
        """One POS batch; returns the events refused only for their buyer's identifiers, without them."""
        try:
            results = await self.commerce.pos_events(store, [event for _, event in chunk])
        except CommerceUnavailable as exc:
            log.warning("commerce unavailable; POS batch for %s waits: %s", store, exc)
            for work, _ in chunk:
                work.waiting = True
                self.state.count_attempt(work.item)
            return []
        except CommerceRejected as exc:
            for work, _ in chunk:
                work.problem = work.problem or Problem(exc.code, f"POS batch for {store}: {exc.detail}")
            return []
        anonymous = []
        for (work, sent), result in zip(chunk, results, strict=True):
            if result.status == "applied" and result.code is not None:
                log.info("%s applied, buyer not fully linked (%s): %s", sent["event_id"], result.code, result.detail)
            if result.status != "rejected":
                continue
            if result.code == "invalid_customer" and "customer" in sent:
                log.warning("buyer not accepted, %s sent without it: %s", sent["event_id"], result.detail)
                anonymous.append((work, {k: v for k, v in sent.items() if k != "customer"}))
            elif work.problem is None:
                work.problem = Problem(result.code or "rejected", f"{sent['event_id']} at {store}: {result.detail}")
        return anonymous

    async def drain_inbox(self) -> None:
        """One round of the inbox loop: wait for a delivery (or the poll), apply everything pending;
        while deliveries stay that cannot be applied (a side is down), wait longer each round."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wake.wait(), timeout=self._pause)
        self.wake.clear()
        progressed = False
        while await self.apply_pending():
            progressed = True
        stuck = not progressed and bool(self.state.pending())
        self._pause = min(self._pause * 2, MAX_PAUSE) if stuck else self.poll_seconds

    # --- outbound: our changes to Square --------------------------------------------------------

    async def push_feed(self) -> int:
        """Send the changes made here behind one page of our feed to Square; returns how many feed
        events it read.

        The feed (`inventory.changed`) says which levels of mapped stores moved; their ledger (newest
        first, down to the last entry already sent) says how and why. What is sent is saved first
        ("square-outbound") and sent again, unchanged, until Square accepted all of it: a retried
        batch is the same request under the same idempotency key, which Square applies once. Only
        then do the ledger marks and the feed cursor move."""
        await self._send_outbound()
        after = self.state.cursor()
        page = await self.commerce.events(after, ["inventory.changed"], limit=500)
        if not page.items:
            return 0
        since: dict[tuple[str, str], datetime] = {}
        for e in page.items:
            if e.data.get("store") in self.locations:
                since.setdefault((e.data["store"], e.data["sku"]), e.occurred_at)
        marks = self.state.load("square-ledger-marks")  # "store|sku" -> newest ledger id sent
        changes: list[Change] = []
        for (store, sku), first in since.items():
            key = f"{store}|{sku}"
            entries = await self._ledger_since(store, sku, marks.get(key), first)
            if entries:
                marks[key] = max(int(e["id"]) for e in entries)
            changes += [c for e in entries if (c := mapping.change_of_entry(store, sku, e)) is not None]
        catalog_ids = await self.catalog_ids({c.sku for c in changes}) if changes else {}
        times = self.state.load("square-ledger-times")  # "store|sku" -> occurred_at of the newest change sent
        square_changes, unknown = mapping.inventory_changes(changes, self.locations, catalog_ids, times)
        self.state.save(
            "square-outbound",
            {
                "bodies": mapping.change_batches(square_changes),
                "unknown": [c._asdict() for c in unknown],
                "marks": marks,
                "times": times,
                "cursor": page.next_after,
            },
        )
        await self._send_outbound()
        return len(page.items)

    async def _ledger_since(self, store: str, sku: str, mark: int | None, first: datetime) -> list[dict[str, Any]]:
        """The level's ledger entries after `mark` (the newest one sent), oldest first. Writers of a level
        hold its row lock from their first change to it until they commit, so its entries are numbered in
        commit order, those of one transaction are consecutive, and none can appear below the mark later.

        For a level never sent, the entries from the transaction of `first` (the level's first change in
        the feed page) on. Its rows carry `first` as their `at` (the ledger row and the feed event of one
        change both get the transaction's start time), so the walk (newest first) takes everything down
        to that run of rows and stops right below it. It must not stop at the first row older than
        `first`: `at` is when a transaction started, not when it committed, so a transaction that started
        earlier and waited for the row lock commits later, with a larger id and an earlier `at`; stopping
        there would lose the changes between it and `first` for good. Only if no row carries `first`
        (none should) are the rows with `at` >= `first` taken, looking back LEDGER_SLACK for them."""
        found: list[dict[str, Any]] = []
        in_first = False  # inside the run of rows of the transaction of `first`
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 500, **({"cursor": cursor} if cursor else {})}
            page = await self.commerce._json("GET", f"/v1/inventory/{store}/{sku}/ledger", params=params)
            for entry in page["items"]:
                if mark is not None:
                    if int(entry["id"]) <= mark:
                        return found[::-1]
                else:
                    at = datetime.fromisoformat(entry["at"])
                    if at == first:
                        in_first = True
                    elif in_first:
                        return found[::-1]
                    elif at < first - LEDGER_SLACK:
                        break
                found.append(entry)
            else:
                cursor = page.get("next_cursor")
                if cursor:
                    continue
            if mark is not None or in_first:
                return found[::-1]
            return [e for e in found[::-1] if datetime.fromisoformat(e["at"]) >= first]

    async def _send_outbound(self) -> None:
        """Send the saved outbound batches (again); once Square accepted them, move marks and cursor.
        Raises SquareUnavailable (everything stays saved for the next round)."""
        pending = self.state.load("square-outbound")
        if "cursor" not in pending:
            return
        for change in pending.get("unknown") or []:
            self._dead_change(Change(**change), "unknown_sku", f"No Square variation has SKU {change['sku']}.")
        pending["unknown"] = []
        self.state.save("square-outbound", pending)
        await self.push_bodies(pending["bodies"])
        self.state.save("square-ledger-marks", pending["marks"])
        if "times" in pending:  # not in a batch saved before they were kept
            self.state.save("square-ledger-times", pending["times"])
        self.state.save_cursor(int(pending["cursor"]))
        self.state.save("square-outbound", {})

    async def push_changes(self, changes: Sequence[Change]) -> None:
        """Push changes now (a replayed dead letter); a SKU Square still does not know dies again."""
        catalog_ids = await self.catalog_ids({c.sku for c in changes})
        square_changes, unknown = mapping.inventory_changes(changes, self.locations, catalog_ids)
        for change in unknown:
            self._dead_change(change, "unknown_sku", f"No Square variation has SKU {change.sku}.")
        await self.push_bodies(mapping.change_batches(square_changes))

    async def push_bodies(self, bodies: Sequence[dict[str, Any]]) -> None:
        """BatchChangeInventory calls, 100 changes at most each; a batch Square refuses is dead-lettered
        change by change. Raises SquareUnavailable. Square announces the counts a push produced like any
        other count change: those that follow our PHYSICAL_COUNTs only (the counts its answer carried)
        are remembered as echoes and not applied back."""
        for body in bodies:
            pairs = {_pair(_change_body(change)) for change in body["changes"]}
            self._pushing |= pairs
            try:
                answer = await self.square.batch_change(body)
            except SquareRejected as exc:
                for change in body["changes"]:
                    self._dead_square_change(change, f"square_{exc.code.lower()}", exc.detail)
                continue
            finally:
                self._pushing -= pairs
                self.wake.set()  # count notifications held back while the push was in flight
            # The count after an ADJUSTMENT of ours is applied here like any other: it is Square's total
            # with our change in it, which puts our change back should a count Square announced before
            # the change reached it (a sale's) have set on_hand here as of a later time without it.
            adjusted = {_pair(_change_body(c)) for c in body["changes"] if c.get("type") == "ADJUSTMENT"}
            pushed = self.state.load("square-pushed")
            for count in answer.get("counts") or []:
                if _pair(count) not in adjusted:
                    _remember_echo(pushed, count)
            self.state.save("square-pushed", pushed)

    def _dead_change(self, change: Change, code: str, reason: str) -> None:
        item = InboxItem(
            key=f"commerce-ledger:{change.ledger_id}:{change.store}:{change.sku}",
            topic=OUTBOUND_TOPIC,
            body_b64=base64.b64encode(msgspec.json.encode(change._asdict())).decode(),
            received_at=datetime.now(UTC).timestamp(),
        )
        self.state.dead_letter(item, reason, code)

    def _dead_square_change(self, change: dict[str, Any], code: str, reason: str) -> None:
        body = _change_body(change)
        ledger_id = int(str(body.get("reference_id", "commerce-ledger-0")).rsplit("-", 1)[1])
        store = self.stores.get(str(body.get("location_id")), "")
        sku = self.skus.get(str(body.get("catalog_object_id"))) or str(body.get("catalog_object_id"))
        if change["type"] == "PHYSICAL_COUNT":
            kind, quantity, why = "count", int(Decimal(body["quantity"])), "count"
        else:
            sign = 1 if body.get("to_state") == "IN_STOCK" else -1
            kind, quantity = "adjust", sign * int(Decimal(body["quantity"]))
            why = "pos_sale" if body.get("to_state") == "SOLD" else "adjustment"
        self._dead_change(Change(ledger_id, store, sku, kind, quantity, why, body["occurred_at"]), code, reason)

    async def _replay_outbound(self, item: InboxItem) -> bool:
        """A replayed outbound change: push it again (it may die again with a fresh reason)."""
        try:
            doc = msgspec.convert(item.payload(), type=dict[str, Any])
            if "on_hand" in doc:  # a level dead-lettered before changes were sent as such
                doc = {
                    "ledger_id": doc["seq"],
                    "store": doc["store"],
                    "sku": doc["sku"],
                    "kind": "count",
                    "quantity": doc["on_hand"],
                    "reason": "count",
                    "occurred_at": doc["occurred_at"],
                }
            await self.push_changes([Change(**doc)])
        except SquareUnavailable:
            self.state.count_attempt(item)
            return False
        self.state.mark_done(item)
        return True

    async def follow_feed(self) -> None:
        """One round of the outbound loop; our API or Square being down only delays it."""
        try:
            read = await self.push_feed()
        except (SquareUnavailable, CommerceUnavailable) as exc:
            log.warning("outbound sync waits: %s", exc)
            read = 0
        if not read:
            await asyncio.sleep(self.poll_seconds)

    async def prune(self) -> None:
        """Forget applied deliveries after a week (Square retries a notification for up to 3 days)."""
        removed = self.state.prune_done(DONE_RETENTION)
        if removed:
            log.info("forgot old applied deliveries", extra={"removed": removed})
        await asyncio.sleep(3600)

    def loops(self) -> list[Callable[[], Coroutine[Any, Any, None]]]:
        return [
            lambda: run_loop_forever("square-inbox", self.drain_inbox, pause=1.0),
            lambda: run_loop_forever("square-feed", self.follow_feed, pause=1.0),
            lambda: run_loop_forever("square-prune", self.prune, pause=60.0),
        ]

    # --- recovery: the Events API ---------------------------------------------------------

    async def catch_up(self, since: datetime) -> tuple[int, int]:
        """Store every notification Square recorded since `since` (28 days at most) that the inbox
        has not seen, then apply the inbox. Returns (events read, new deliveries)."""
        read = new = 0
        async for event in self.square.events(rfc3339(since), TOPICS):
            read += 1
            event_id, topic = event.get("event_id"), event.get("type")
            if isinstance(event_id, str) and topic in TOPICS:
                body = msgspec.json.encode(event)
                new += self.state.accept(delivery_key(event_id), str(topic), body)
        while await self.apply_pending():
            pass
        return read, new

    def health(self) -> dict[str, Any]:
        return {"catalog_variations": len(self.skus.values), "locations": len(self.locations)}


def _change_body(change: dict[str, Any]) -> dict[str, Any]:
    return dict(change.get("physical_count") or change.get("adjustment") or {})


def _pair(count: dict[str, Any]) -> str:
    return f"{count.get('catalog_object_id')}|{count.get('location_id')}"


def _is_echo(count: dict[str, Any], pushed: dict[str, Any]) -> bool:
    """Square announces the counts a push of ours produced like any other count change (the same
    counts its answer to the push carried). Applied back here, such a count would set on_hand to the
    pushed value as of a later time, undoing Square sales the pushed value did not include yet."""
    return str(count.get("calculated_at")) in (pushed.get(_pair(count)) or [])


def _remember_echo(pushed: dict[str, Any], count: dict[str, Any]) -> None:
    key = _pair(count)
    pushed[key] = [*(pushed.get(key) or [])[-(ECHO_MEMORY - 1) :], str(count.get("calculated_at"))]
