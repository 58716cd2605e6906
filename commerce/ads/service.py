"""Ad clicks: recording them and joining them to customers.

A click sent with a customer token belongs to that customer. A click sent anonymously with a
`cart_id` belongs to whoever that cart comes to belong to: its owner at once if it has one, else
the customer it is merged into at sign-in or who checks it out. That join is made in the database
by `resolve_cart_owners`, which every export and the report run first, so the carts context needs
no hook and a click is joined however the cart gained its owner.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, literal_column, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from commerce.ads import rules
from commerce.ads.models import AdClick
from commerce.ads.schemas import AdClickIn, AdClickOut
from commerce.auth.guards import ensure_reach
from commerce.auth.schemas import CUSTOMER, Principal
from commerce.carts.models import Cart
from commerce.carts.sql import CART_OWNERS
from commerce.customers.service import require_customer
from commerce.errors import Forbidden, NotFound, Unprocessable

_RESOLVE = f"""
    UPDATE ad_clicks k SET customer_id = owners.customer_id
    FROM ({CART_OWNERS}) owners
    WHERE k.customer_id IS NULL AND k.cart_id = owners.cart_id
"""


async def resolve_cart_owners(db: AsyncSession, click: int | None = None) -> int:
    """Join every anonymous click (or just `click`) whose cart now has an owner to that owner; returns
    how many were joined."""
    if click is None:
        result = await db.execute(text(_RESOLVE))
    else:
        result = await db.execute(text(_RESOLVE + " AND k.id = :click"), {"click": click})
    return int(getattr(result, "rowcount", 0) or 0)


async def _owner(db: AsyncSession, principal: Principal, data: AdClickIn) -> tuple[uuid.UUID | None, str | None]:
    """The customer the click belongs to (if known yet) and the cart it came with."""
    customer_id: uuid.UUID | None = None
    if data.customer_id is not None:
        if principal.role != "admin":
            raise Forbidden("Only an admin key may name `customer_id`; a customer token's clicks are its own.")
        await require_customer(db, data.customer_id)
        customer_id = data.customer_id
    elif principal.role == CUSTOMER:
        customer_id = principal.customer_id
    if data.cart_id is None:
        if customer_id is None:
            raise Unprocessable("An anonymous click needs the `cart_id` of the shopper's cart to be joined to anyone.")
        return customer_id, None
    cart_owner = await db.execute(select(Cart.customer_id).where(Cart.id == data.cart_id))
    row = cart_owner.first()
    if row is None:
        raise NotFound(f"No cart with id {data.cart_id!r}.")
    ensure_reach(principal, row.customer_id, f"No cart with id {data.cart_id!r}.")
    return customer_id or row.customer_id, data.cart_id


async def record_click(
    db: AsyncSession, principal: Principal, data: AdClickIn, now: datetime | None = None
) -> tuple[AdClickOut, bool]:
    """Record a click once per (network, click id); returns it and whether it was new.

    A repeat keeps the first click's time and campaign, and only fills in a customer or cart the first
    did not have, so replays and a later signed-in repeat of an anonymous click are both safe.
    """
    click_type = data.click_id_type or rules.default_click_id_type(data.network)
    problem = rules.click_problem(data.network, click_type, data.click_id, data.clicked_at, now or datetime.now(UTC))
    if problem is not None:
        raise Unprocessable(problem)
    customer_id, cart_id = await _owner(db, principal, data)
    values = insert(AdClick).values(
        network=data.network,
        click_id=data.click_id,
        click_id_type=click_type,
        clicked_at=data.clicked_at,
        campaign=data.campaign,
        customer_id=customer_id,
        cart_id=cart_id,
    )
    stmt = values.on_conflict_do_update(
        constraint="uq_ad_clicks_network_click_id",
        set_={
            "customer_id": text("coalesce(ad_clicks.customer_id, excluded.customer_id)"),
            "cart_id": text("coalesce(ad_clicks.cart_id, excluded.cart_id)"),
        },
    ).returning(*AdClick.__table__.c, literal_column("xmax = 0").label("inserted"))
    row = (await db.execute(stmt)).one()
    inserted = bool(row.inserted)
    if row.customer_id is None and row.cart_id is not None and await resolve_cart_owners(db, row.id):
        row = (await db.execute(select(*AdClick.__table__.c).where(AdClick.id == row.id))).one()
    return _out(row, principal), inserted


def _out(click: Row[Any], principal: Principal) -> AdClickOut:
    # Whose click it is stays hidden from a caller who is not that customer (or an admin).
    shown = click.customer_id if principal.role == "admin" or principal.customer_id == click.customer_id else None
    return AdClickOut(
        id=click.id,
        network=click.network,
        click_id=click.click_id,
        click_id_type=click.click_id_type,
        clicked_at=click.clicked_at,
        campaign=click.campaign,
        cart_id=click.cart_id,
        customer_id=shown,
        created_at=click.created_at,
    )
