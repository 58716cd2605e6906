"""Till sales that carry a loyalty id, read back for the customer's purchase history.

The till names a loyalty id no customer holds yet: applying the sale creates that customer (as an imported
order does), and a later lookup by the loyalty id finds them with their sales."""

from __future__ import annotations

import uuid

import pytest

from commerce.money import Money
from commerce.pos import service
from commerce.pos.schemas import PosLineOut
from tests.api.test_pos_sync import T0, event, send
from tests.conftest import ADMIN, Api


@pytest.fixture
async def shop(api: Api) -> None:
    await api.store("S1")
    await api.store("S2")
    await api.product("tee", ["TEE-S", "TEE-M"])


async def test_sales_with_a_loyalty_id_come_back_newest_first_with_totals(shop, client, app) -> None:
    priced = {"sku": "TEE-S", "quantity": 2, "unit_price": {"amount": 1250, "currency": "USD"}}
    await send(
        client,
        "S1",
        [
            {
                **event("a", "sale", 1),
                "lines": [priced, {**priced, "sku": "TEE-M", "quantity": 1}],
                "loyalty_id": "L-1",
            },
            {**event("b", "return", 5, ("TEE-S", 1)), "loyalty_id": "L-1"},
            {**event("c", "sale", 3, ("TEE-S", 1)), "loyalty_id": "L-2"},
            event("d", "sale", 4, ("TEE-S", 1)),
            {**event("e", "receipt", 6, ("TEE-S", 9)), "loyalty_id": "L-1"},
        ],
    )
    await send(client, "S2", [{**event("a", "sale", 2, ("TEE-M", 1)), "loyalty_id": "L-1"}], headers=ADMIN)

    found = (await client.get("/v1/customers", params={"loyalty_id": "L-1"}, headers=ADMIN)).json()["items"]
    assert len(found) == 1 and (found[0]["email"], found[0]["phone"]) == (None, None)
    customer = uuid.UUID(found[0]["id"])
    async with app.state.sessionmaker() as db:
        history = await service.sales_for_customer(db, customer, limit=10)
        assert [(p.store, p.event_id, p.type) for p in history] == [
            ("S1", "b", "return"),
            ("S2", "a", "sale"),
            ("S1", "a", "sale"),
        ]
        first = history[2]
        assert first.occurred_at == T0.replace(minute=1)
        assert first.lines == [
            PosLineOut(sku="TEE-S", quantity=2, unit_price=Money(1250, "USD")),
            PosLineOut(sku="TEE-M", quantity=1, unit_price=Money(1250, "USD")),
        ]
        assert first.total == Money(3750, "USD")
        assert history[0].total is None  # a line without a price: no total

        page1 = await service.sales_for_customer(db, customer, limit=2)
        last = page1[-1]
        page2 = await service.sales_for_customer(
            db, customer, limit=2, after=(last.occurred_at, last.store, last.event_id)
        )
        assert [p.event_id for p in page1 + page2] == ["b", "a", "a"]
        assert [p.store for p in page1 + page2] == ["S1", "S2", "S1"]
        assert await service.sales_for_customer(db, uuid.uuid4(), limit=5) == []
