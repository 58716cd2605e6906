"""Promotions for segments, with per-customer and total limits and single-use codes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from commerce.errors import Conflict
from commerce.orders.sweeper import sweep_once
from commerce.promotions import redemptions
from tests.conftest import ADMIN, Api
from tests.shopping import order, till
from tests.stock import stock


@pytest.fixture
async def shop(api: Api, app: Any, client: httpx.AsyncClient) -> None:
    await api.store("LOOP")
    await api.product("grinder", ["GRINDER"], price=10_000, category="tools")
    await api.product("beans", ["BEANS"], price=1_000, category="coffee")
    await stock(app, [("LOOP", "GRINDER", 500), ("LOOP", "BEANS", 500)])
    r = await client.put(
        "/v1/segments/bean-buyers",
        json={"title": "Bought beans in store", "rules": [{"fact": "bought_sku", "op": "eq", "value": "BEANS"}]},
        headers=ADMIN,
    )
    assert r.status_code == 201


async def put_promotion(client: httpx.AsyncClient, promotion_id: str, **body: Any) -> httpx.Response:
    body = {"title": promotion_id, "kind": "percent_off", "value": 20, **body}
    return await client.put(f"/v1/promotions/{promotion_id}", json=body, headers=ADMIN)


async def discount_of(client: httpx.AsyncClient, customer_id: str | None) -> tuple[int, str | None]:
    """The discount and promotion of one grinder in the customer's cart (a new anonymous cart for None)."""
    if customer_id is None:
        cart = (await client.post("/v1/carts", json={"channel": "web"}, headers=ADMIN)).json()["id"]
    else:
        cart = (await client.get(f"/v1/customers/{customer_id}/cart", headers=ADMIN)).json()["id"]
    r = await client.post(
        f"/v1/carts/{cart}/lines",
        json={"sku": "GRINDER", "quantity": 1, "fulfillment": {"type": "pickup", "store": "LOOP"}},
        headers=ADMIN,
    )
    line = r.json()["lines"][0]
    return line["discount"]["amount"], line["promotion_id"]


async def test_in_store_bean_buyers_get_the_grinder_offer_online(
    client: httpx.AsyncClient, api: Api, app: Any, shop: None
) -> None:
    ann = await api.customer(loyalty_id="L-ANN")
    bob = await api.customer(loyalty_id="L-BOB")
    r = await put_promotion(client, "grinder-20", segments=["bean-buyers"], applies_to={"skus": ["GRINDER"]})
    assert r.status_code == 201 and r.json()["segments"] == ["bean-buyers"]
    await till(client, "LOOP", "L-ANN", ("BEANS", 1, 1_000))

    assert await discount_of(client, ann["id"]) == (2_000, "grinder-20")
    assert await discount_of(client, bob["id"]) == (0, None)
    assert await discount_of(client, None) == (0, None)

    token = await api.customer_token(ann["id"])
    offers = (await client.get("/v1/me/offers", headers=token)).json()["items"]
    assert [(o["id"], o["segments"], o["remaining"]) for o in offers] == [("grinder-20", ["bean-buyers"], None)]
    r = await client.get(f"/v1/customers/{bob['id']}/offers", headers=await api.key("associate", "LOOP"))
    assert r.status_code == 200 and r.json()["items"] == []


async def test_promotion_requests_with_bad_targets_or_limits(client: httpx.AsyncClient, shop: None) -> None:
    r = await put_promotion(client, "p", segments=["no-such-segment"])
    assert r.status_code == 422 and r.json()["code"] == "unknown_segment"
    for bad in ({"per_customer_limit": 0}, {"total_limit": -1}, {"segments": []}, {"total_limit": 2_000_000_000}):
        r = await put_promotion(client, "p", **bad)
        assert r.status_code == 422, bad
    assert (await client.get("/v1/promotions/p", headers=ADMIN)).status_code == 404


async def test_a_per_customer_limit_counts_orders_and_cancelling_gives_it_back(
    client: httpx.AsyncClient, api: Api, app: Any, shop: None
) -> None:
    ann = await api.customer(email="ann@example.com")
    await put_promotion(client, "once", per_customer_limit=1)
    first = await order(client, ann["id"], ("GRINDER", 1))
    assert first.status_code == 201 and first.json()["lines"][0]["promotion_id"] == "once"
    second = await order(client, ann["id"], ("GRINDER", 1))
    assert second.status_code == 201 and second.json()["lines"][0]["promotion_id"] is None
    assert (await order(client, None, ("GRINDER", 1))).json()["lines"][0]["promotion_id"] is None
    offers = (await client.get(f"/v1/customers/{ann['id']}/offers", headers=ADMIN)).json()["items"]
    assert offers == []
    assert (await client.post(f"/v1/orders/{first.json()['id']}/cancel", headers=ADMIN)).status_code == 200
    offers = (await client.get(f"/v1/customers/{ann['id']}/offers", headers=ADMIN)).json()["items"]
    assert [(o["id"], o["remaining"]) for o in offers] == [("once", 1)]
    third = await order(client, ann["id"], ("GRINDER", 1))
    assert third.json()["lines"][0]["promotion_id"] == "once"


async def test_a_total_limit_is_given_back_on_cancel_and_expiry(
    client: httpx.AsyncClient, api: Api, app: Any, shop: None, db_conn: Any
) -> None:
    await put_promotion(client, "two", total_limit=2)
    placed = [await order(client, None, ("GRINDER", 1)) for _ in range(3)]
    assert [o.json()["lines"][0]["promotion_id"] for o in placed] == ["two", "two", None]
    assert (await client.get("/v1/promotions/two", headers=ADMIN)).json()["redemptions"] == 2
    assert (await client.post(f"/v1/orders/{placed[0].json()['id']}/cancel", headers=ADMIN)).status_code == 200
    # Cancelling again is refused and gives nothing back twice.
    assert (await client.post(f"/v1/orders/{placed[0].json()['id']}/cancel", headers=ADMIN)).status_code == 409
    assert (await client.get("/v1/promotions/two", headers=ADMIN)).json()["redemptions"] == 1
    await sweep_once(app.state.sessionmaker, datetime.now(UTC) + timedelta(days=30))
    assert (await client.get("/v1/promotions/two", headers=ADMIN)).json()["redemptions"] == 0
    assert await db_conn.fetchval("SELECT count(*) FROM promotion_redemptions") == 0


async def test_a_checkout_past_a_limit_is_409_and_writes_nothing(
    app: Any, client: httpx.AsyncClient, shop: None, db_conn: Any
) -> None:
    """The race between two checkouts priced before either counted: the conditional count refuses the
    second (the concurrency test runs the real race through the API)."""
    await put_promotion(client, "one", total_limit=1)
    assert (await order(client, None, ("GRINDER", 1))).status_code == 201
    with pytest.raises(Conflict) as refused:
        async with app.state.sessionmaker() as db, db.begin():
            await redemptions.redeem(
                db,
                order_id=uuid.uuid4(),
                customer_id=None,
                codes=[],
                promotion_ids=["one"],
                used_codes=[],
                now=datetime.now(UTC),
            )
    assert refused.value.code == "promotion_limit_reached" and refused.value.extra["promotion_id"] == "one"
    assert await db_conn.fetchval("SELECT redemptions FROM promotions WHERE id = 'one'") == 1
    assert await db_conn.fetchval("SELECT count(*) FROM promotion_redemptions") == 1


async def test_single_use_codes_are_redeemed_once(client: httpx.AsyncClient, api: Api, app: Any, shop: None) -> None:
    await put_promotion(client, "join-email", value=15)
    r = await client.post("/v1/promotions/join-email/codes", json={"count": 3, "prefix": "join"}, headers=ADMIN)
    assert r.status_code == 201, r.text
    codes = r.json()["codes"]
    assert len(set(codes)) == 3 and all(c.startswith("JOIN-") and len(c) == 21 for c in codes)
    assert (await client.get("/v1/promotions/join-email", headers=ADMIN)).json()["single_use_codes"] is True
    # Without one of its codes the promotion no longer prices anything.
    assert (await order(client, None, ("GRINDER", 1))).json()["lines"][0]["promotion_id"] is None

    used = await order(client, None, ("GRINDER", 1), codes=(codes[0].lower(),))
    assert used.status_code == 201 and used.json()["lines"][0]["discount"]["amount"] == 1_500
    cart = (await client.post("/v1/carts", json={"channel": "web"}, headers=ADMIN)).json()["id"]
    r = await client.post(f"/v1/carts/{cart}/codes", json={"code": codes[0]}, headers=ADMIN)
    assert r.status_code == 422 and r.json()["code"] == "code_used"
    r = await client.post(f"/v1/carts/{cart}/codes", json={"code": "JOIN-0000000000000000"}, headers=ADMIN)
    assert r.status_code == 422 and r.json()["code"] == "invalid_code"

    # Two carts hold the same code; the first checkout redeems it, the second is refused.
    carts = []
    for _ in range(2):
        cart = (await client.post("/v1/carts", json={"channel": "web"}, headers=ADMIN)).json()["id"]
        line = {"sku": "GRINDER", "quantity": 1, "fulfillment": {"type": "pickup", "store": "LOOP"}}
        await client.post(f"/v1/carts/{cart}/lines", json=line, headers=ADMIN)
        assert (await client.post(f"/v1/carts/{cart}/codes", json={"code": codes[1]}, headers=ADMIN)).status_code == 200
        carts.append(cart)
    first = await client.post(f"/v1/carts/{carts[0]}/checkout", json={}, headers={**ADMIN, "Idempotency-Key": "a"})
    assert first.status_code == 201 and first.json()["lines"][0]["promotion_id"] == "join-email"
    second = await client.post(f"/v1/carts/{carts[1]}/checkout", json={}, headers={**ADMIN, "Idempotency-Key": "b"})
    assert second.status_code == 409 and second.json()["code"] == "code_used", second.text
    # Cancelling the first order gives the code back.
    assert (await client.post(f"/v1/orders/{first.json()['id']}/cancel", headers=ADMIN)).status_code == 200
    again = await client.post(f"/v1/carts/{carts[1]}/checkout", json={}, headers={**ADMIN, "Idempotency-Key": "c"})
    assert again.status_code == 201 and again.json()["lines"][0]["promotion_id"] == "join-email"


async def test_code_requests_that_cannot_be_served(client: httpx.AsyncClient, api: Api, shop: None) -> None:
    await put_promotion(client, "p")
    for bad in ({"count": 0}, {"count": 10_001}, {"count": 1, "prefix": "no spaces"}, {"count": 1, "extra": 1}):
        r = await client.post("/v1/promotions/p/codes", json=bad, headers=ADMIN)
        assert r.status_code == 422, bad
    assert (await client.post("/v1/promotions/nope/codes", json={"count": 1}, headers=ADMIN)).status_code == 404
    r = await client.post("/v1/promotions/p/codes", json={"count": 1}, headers=await api.key("storefront"))
    assert r.status_code == 403
    await client.post("/v1/promotions/p/kill", headers=ADMIN)
    r = await client.post("/v1/promotions/p/codes", json={"count": 1}, headers=ADMIN)
    assert r.status_code == 422 and r.json()["code"] == "invalid_state"


async def test_ten_thousand_codes_in_one_call(client: httpx.AsyncClient, shop: None, db_conn: Any) -> None:
    await put_promotion(client, "receipt")
    r = await client.post(
        "/v1/promotions/receipt/codes", json={"count": 10_000}, headers={**ADMIN, "Idempotency-Key": "batch-1"}
    )
    assert r.status_code == 201
    assert len(set(r.json()["codes"])) == 10_000
    replay = await client.post(
        "/v1/promotions/receipt/codes", json={"count": 10_000}, headers={**ADMIN, "Idempotency-Key": "batch-1"}
    )
    assert replay.json() == r.json()
    assert await db_conn.fetchval("SELECT count(*) FROM promotion_codes") == 10_000


async def test_offers_are_paged_in_the_engines_order(client: httpx.AsyncClient, api: Api, shop: None) -> None:
    ann = await api.customer(email="ann@example.com")
    # Same priority: the larger percent first; a higher priority before them all.
    for promotion_id, value, priority in (("p10", 10, 0), ("p30", 30, 0), ("p20", 20, 0), ("top", 5, 9)):
        assert (await put_promotion(client, promotion_id, value=value, priority=priority)).status_code == 201
    whole = (await client.get(f"/v1/customers/{ann['id']}/offers", headers=ADMIN)).json()
    assert [o["id"] for o in whole["items"]] == ["top", "p30", "p20", "p10"] and whole["next_cursor"] is None
    seen: list[str] = []
    pages = 0
    cursor: str | None = None
    token = await api.customer_token(ann["id"])
    while True:
        params = {"limit": 3} if cursor is None else {"limit": 3, "cursor": cursor}
        page = (await client.get("/v1/me/offers", params=params, headers=token)).json()
        seen += [o["id"] for o in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["top", "p30", "p20", "p10"] and pages == 2
    r = await client.get("/v1/me/offers", params={"cursor": "bm90LWEtY3Vyc29y"}, headers=token)
    assert r.status_code == 422 and r.json()["code"] == "invalid_cursor"


async def test_several_shoppers_read_together_get_what_each_gets_alone(
    client: httpx.AsyncClient, api: Api, app: Any, shop: None
) -> None:
    """Checkouts placed together read every shopper's segments, used-up limits and codes in one
    statement (live.candidates_for): each answer is what that shopper's own read gives."""
    import uuid
    from datetime import UTC, datetime

    from commerce.promotions import live

    ann = await api.customer(loyalty_id="L-ANN")
    bob = await api.customer(loyalty_id="L-BOB")
    assert (
        await put_promotion(client, "grinder-20", segments=["bean-buyers"], applies_to={"skus": ["GRINDER"]})
    ).status_code == 201
    assert (
        await put_promotion(client, "first-1", value=50, total_limit=1, applies_to={"categories": ["tools"]})
    ).status_code == 201
    assert (
        await put_promotion(client, "mine-1", per_customer_limit=1, applies_to={"skus": ["BEANS"]})
    ).status_code == 201
    await till(client, "LOOP", "L-ANN", ("BEANS", 1, 1_000))
    await order(client, ann["id"], ("GRINDER", 1))  # uses up first-1 (total) and nothing of mine-1
    await order(client, bob["id"], ("BEANS", 1))  # uses up mine-1 for bob only
    pricings = [
        live.Pricing(["GRINDER", "BEANS"], ["tools", "coffee"], uuid.UUID(ann["id"]), ["nope"]),
        live.Pricing(["GRINDER", "BEANS"], ["tools", "coffee"], uuid.UUID(bob["id"])),
        live.Pricing(["GRINDER"], ["tools"]),
    ]
    now = datetime.now(UTC)
    async with app.state.sessionmaker() as db, db.begin():
        together = await live.candidates_for(db, pricings, now=now)
        alone = [(await live.candidates_for(db, [p], now=now))[0] for p in pricings]
    assert [(c.shopper, sorted(c.used_up)) for c in together] == [(c.shopper, sorted(c.used_up)) for c in alone]
    assert together[0].shopper.segments and not together[1].shopper.segments
    assert sorted(together[0].used_up) == ["first-1"] and sorted(together[1].used_up) == ["first-1", "mine-1"]
