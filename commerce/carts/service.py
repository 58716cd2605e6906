"""Cart use cases. Every edit first bumps the cart's version with one conditional UPDATE, which
also locks the row: concurrent edits of one cart queue up, and a stale `If-Match` matches nothing."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime

from sqlalchemy import Row, delete, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from commerce.auth.guards import ensure_reach
from commerce.auth.schemas import CUSTOMER, Principal
from commerce.carts import rules
from commerce.carts.models import Cart, CartLine
from commerce.carts.schemas import CartIn, Fulfillment, LineIn, LinePatch, Pickup
from commerce.catalog.models import Variant
from commerce.customers import service as customers
from commerce.errors import Conflict, InvalidState, NotFound, PreconditionFailed, Unprocessable
from commerce.promotions import service as promotions
from commerce.stores.models import Store

_LINE_KEY = "uq_cart_lines_cart_id_sku_pickup_store"


def new_cart_id() -> str:
    """192 random bits: the id is the capability to use the cart, so it must not be guessable."""
    return secrets.token_urlsafe(24)


async def create_cart(db: AsyncSession, data: CartIn, principal: Principal) -> str:
    owner = rules.cart_owner(principal, data.customer_id)
    if owner is not None:
        await customers.require_customer(db, owner)
    cart_id = await db.scalar(
        insert(Cart)
        .values(id=new_cart_id(), channel=data.channel, customer_id=owner, currency=data.currency)
        .on_conflict_do_nothing()
        .returning(Cart.id)
    )
    if not isinstance(cart_id, str):
        raise Conflict(
            "This customer already has an active cart; use GET /v1/customers/{id}/cart (or /v1/me/cart) to reach it.",
            code="active_cart_exists",
        )
    return cart_id


async def reach_cart(db: AsyncSession, principal: Principal, cart_id: str) -> None:
    """404 for a customer token on another customer's cart (other callers hold the id: that is enough)."""
    if principal.role == CUSTOMER:
        owner = await db.scalar(select(Cart.customer_id).where(Cart.id == cart_id))
        ensure_reach(principal, owner, f"No cart with id {cart_id!r}.")


async def customer_cart(db: AsyncSession, customer_id: uuid.UUID, *, channel: str, currency: str) -> str:
    """The customer's one active cart, created if none. Two devices asking at once get the same cart:
    the partial unique index lets one INSERT win, the other does nothing and reads the winner's row."""
    await customers.require_customer(db, customer_id)
    existing = await db.scalar(select(Cart.id).where(Cart.customer_id == customer_id, Cart.status == "active"))
    if existing is not None:
        return existing
    await db.execute(
        insert(Cart)
        .values(id=new_cart_id(), channel=channel, customer_id=customer_id, currency=currency)
        .on_conflict_do_nothing(index_elements=[Cart.customer_id], index_where=text("status = 'active'"))
    )
    cart_id = await db.scalar(select(Cart.id).where(Cart.customer_id == customer_id, Cart.status == "active"))
    if cart_id is None:  # only if the winner's cart was closed between the two statements
        raise Conflict("The customer's cart changed while it was being read; retry.", code="retry")
    return cart_id


async def _begin_change(db: AsyncSession, cart_id: str, expected: int | None) -> Row[str, str, str, list[str], int]:
    """Bump the version (locking the cart) if it is at `expected`; 404, 412 or 409 otherwise."""
    stmt = (
        update(Cart)
        .where(Cart.id == cart_id)
        .values(version=Cart.version + 1, updated_at=text("now()"))
        .returning(Cart.id, Cart.status, Cart.currency, Cart.codes, Cart.version)
    )
    if expected is not None:
        stmt = stmt.where(Cart.version == expected)
    row = (await db.execute(stmt)).first()
    if row is None:
        current = await db.scalar(select(Cart.version).where(Cart.id == cart_id))
        if current is None:
            raise NotFound(f"No cart with id {cart_id!r}.")
        raise PreconditionFailed(
            f"The cart is at version {current}, not {expected}: another device changed it. Read it and retry."
        )
    if row.status != "active":
        raise InvalidState(f"This cart is {row.status} and can no longer change.")
    return row


async def _check_sku(db: AsyncSession, sku: str, currency: str) -> None:
    variant_currency = await db.scalar(select(Variant.currency).where(Variant.sku == sku))
    if variant_currency is None:
        raise Unprocessable(f"No variant with SKU {sku!r}.", code="unknown_sku")
    if variant_currency != currency:
        raise Unprocessable(
            f"SKU {sku!r} is priced in {variant_currency} and this cart in {currency}.", code="currency_mismatch"
        )


async def _pickup_store(db: AsyncSession, fulfillment: Fulfillment) -> str | None:
    """The store code for a pickup line (which must offer pickup), None for shipping."""
    if not isinstance(fulfillment, Pickup):
        return None
    pickup_enabled = await db.scalar(select(Store.pickup_enabled).where(Store.code == fulfillment.store))
    if pickup_enabled is None:
        raise Unprocessable(f"No store with code {fulfillment.store!r}.", code="unknown_store")
    if not pickup_enabled:
        raise Unprocessable(
            f"Store {fulfillment.store!r} does not offer pickup; choose another store or shipping.",
            code="pickup_unavailable",
        )
    return fulfillment.store


def _too_many(sku: str) -> Unprocessable:
    return Unprocessable(
        f"A cart line holds at most {rules.MAX_LINE_QUANTITY} units of {sku!r}.", code="quantity_limit"
    )


async def add_line(db: AsyncSession, cart_id: str, expected: int | None, data: LineIn) -> None:
    """Add a line; the same SKU and fulfillment again adds to that line."""
    cart = await _begin_change(db, cart_id, expected)
    await _check_sku(db, data.sku, cart.currency)
    store = await _pickup_store(db, data.fulfillment)
    stmt = insert(CartLine).values(cart_id=cart_id, sku=data.sku, pickup_store=store, quantity=data.quantity)
    stmt = stmt.on_conflict_do_update(
        constraint=_LINE_KEY,
        set_={"quantity": CartLine.quantity + stmt.excluded.quantity},
        where=CartLine.quantity + stmt.excluded.quantity <= rules.MAX_LINE_QUANTITY,
    )
    if await db.scalar(stmt.returning(CartLine.id)) is None:
        raise _too_many(data.sku)


async def update_line(db: AsyncSession, cart_id: str, line_id: int, expected: int | None, data: LinePatch) -> None:
    """Change a line's quantity (0 removes it) or fulfillment; moving onto an existing line merges them."""
    if data.quantity is None and data.fulfillment is None:
        raise Unprocessable("Send `quantity`, `fulfillment` or both.")
    await _begin_change(db, cart_id, expected)
    line = (
        await db.execute(
            select(CartLine.sku, CartLine.quantity, CartLine.pickup_store).where(
                CartLine.id == line_id, CartLine.cart_id == cart_id
            )
        )
    ).first()
    if line is None:
        raise NotFound(f"This cart has no line {line_id}.")
    if data.quantity == 0:
        await db.execute(delete(CartLine).where(CartLine.id == line_id))
        return
    quantity = data.quantity if data.quantity is not None else line.quantity
    store = line.pickup_store if data.fulfillment is None else await _pickup_store(db, data.fulfillment)
    if store != line.pickup_store:
        merged = await db.scalar(
            update(CartLine)
            .where(
                CartLine.cart_id == cart_id,
                CartLine.sku == line.sku,
                CartLine.pickup_store.is_not_distinct_from(store),
                CartLine.id != line_id,
            )
            .values(quantity=CartLine.quantity + quantity)
            .returning(CartLine.quantity)
        )
        if merged is not None:
            if merged > rules.MAX_LINE_QUANTITY:
                raise _too_many(line.sku)
            await db.execute(delete(CartLine).where(CartLine.id == line_id))
            return
    await db.execute(update(CartLine).where(CartLine.id == line_id).values(quantity=quantity, pickup_store=store))


async def remove_line(db: AsyncSession, cart_id: str, line_id: int, expected: int | None) -> None:
    await _begin_change(db, cart_id, expected)
    removed = await db.scalar(
        delete(CartLine).where(CartLine.id == line_id, CartLine.cart_id == cart_id).returning(CartLine.id)
    )
    if removed is None:
        raise NotFound(f"This cart has no line {line_id}.")


async def set_codes(db: AsyncSession, cart_id: str, codes: list[str]) -> None:
    if len(codes) > rules.MAX_CODES:
        raise Unprocessable(f"A cart carries at most {rules.MAX_CODES} codes.", code="too_many_codes")
    await db.execute(update(Cart).where(Cart.id == cart_id).values(codes=codes))


async def add_code(db: AsyncSession, cart_id: str, expected: int | None, code: str) -> None:
    """Add a coupon code (422 `invalid_code` for an unknown, killed or expired one)."""
    cart = await _begin_change(db, cart_id, expected)
    canonical = await promotions.usable_code(db, code, datetime.now(UTC))
    await set_codes(db, cart_id, rules.add_code(cart.codes, canonical))


async def remove_code(db: AsyncSession, cart_id: str, expected: int | None, code: str) -> None:
    cart = await _begin_change(db, cart_id, expected)
    remaining = rules.without_code(cart.codes, code)
    if len(remaining) == len(cart.codes):
        raise NotFound(f"Code {code!r} is not on this cart.")
    await set_codes(db, cart_id, remaining)


async def merge_into_customer_cart(
    db: AsyncSession, customer_id: uuid.UUID, source_id: str, principal: Principal
) -> str:
    """Move an anonymous cart's lines and codes into the customer's active cart and close it.

    Repeating it changes nothing: a merged cart remembers where its lines went. Quantities of the
    same SKU and fulfillment add up; a sum past the line limit is 422 `quantity_limit` and nothing
    is merged (the request's transaction rolls back).
    """
    await customers.require_customer(db, customer_id)
    source = (
        await db.execute(
            select(Cart.id, Cart.status, Cart.customer_id, Cart.channel, Cart.currency, Cart.codes, Cart.merged_into)
            .where(Cart.id == source_id)
            .with_for_update()
        )
    ).first()
    if source is None:
        raise NotFound(f"No cart with id {source_id!r}.")
    ensure_reach(principal, source.customer_id, f"No cart with id {source_id!r}.")
    if source.customer_id is not None and source.customer_id != customer_id:
        raise InvalidState("That cart belongs to another customer and cannot be merged here.")
    if source.status == "merged" and source.merged_into is not None:
        owner = await db.scalar(select(Cart.customer_id).where(Cart.id == source.merged_into))
        if owner == customer_id:
            return await customer_cart(db, customer_id, channel=source.channel, currency=source.currency)
    target_id = await customer_cart(db, customer_id, channel=source.channel, currency=source.currency)
    if source.id == target_id:
        return target_id
    if source.status != "active":
        raise InvalidState(f"That cart is {source.status} and cannot be merged.")
    target = await _begin_change(db, target_id, None)
    if target.currency != source.currency:
        raise Unprocessable(
            f"That cart is in {source.currency} and the customer's cart in {target.currency}.",
            code="currency_mismatch",
        )
    moved = await db.execute(
        text(
            "INSERT INTO cart_lines (cart_id, sku, pickup_store, quantity)"
            " SELECT :target, sku, pickup_store, quantity FROM cart_lines WHERE cart_id = :source ORDER BY id"
            f" ON CONFLICT ON CONSTRAINT {_LINE_KEY}"
            " DO UPDATE SET quantity = cart_lines.quantity + excluded.quantity"
            " WHERE cart_lines.quantity + excluded.quantity <= :most RETURNING sku, pickup_store"
        ),
        {"target": target_id, "source": source.id, "most": rules.MAX_LINE_QUANTITY},
    )
    moved_lines = {(row.sku, row.pickup_store) for row in moved}
    source_lines = await db.execute(
        select(CartLine.sku, CartLine.pickup_store, CartLine.quantity).where(CartLine.cart_id == source.id)
    )
    too_many = sorted(sku for sku, store, _ in source_lines if (sku, store) not in moved_lines)
    if too_many:
        raise Unprocessable(
            f"Merging would put more than {rules.MAX_LINE_QUANTITY} units on the customer's line of "
            f"{', '.join(map(repr, too_many))}; nothing was merged. Lower the quantities and merge again.",
            code="quantity_limit",
        )
    await db.execute(delete(CartLine).where(CartLine.cart_id == source.id))
    await set_codes(db, target_id, rules.merge_codes(target.codes, source.codes)[: rules.MAX_CODES])
    await db.execute(
        update(Cart)
        .where(Cart.id == source.id)
        .values(status="merged", merged_into=target_id, version=Cart.version + 1, updated_at=text("now()"))
    )
    return target_id
