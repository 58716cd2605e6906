from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from commerce.customers import rules
from commerce.customers.models import Customer
from commerce.customers.schemas import CustomerIn, CustomerOut
from commerce.errors import Conflict, NotFound, Unprocessable
from commerce.segments import service as segments

_IDENTIFIERS = ("email", "phone", "loyalty_id")


def customer_out(c: Customer) -> CustomerOut:
    return CustomerOut(id=c.id, email=c.email, phone=c.phone, loyalty_id=c.loyalty_id, created_at=c.created_at)


def normalised(data: CustomerIn) -> dict[str, str | None]:
    return {
        "email": None if data.email is None else rules.normalise_email(data.email),
        "phone": None if data.phone is None else rules.normalise_phone(data.phone),
        "loyalty_id": None if data.loyalty_id is None else rules.normalise_loyalty_id(data.loyalty_id),
    }


async def create_customer(db: AsyncSession, data: CustomerIn) -> CustomerOut:
    values = normalised(data)
    if all(v is None for v in values.values()):
        raise Unprocessable("Give at least one of `email`, `phone`, `loyalty_id`.", code="identifier_required")
    # Name the identifier that is taken (a concurrent insert is still caught by the unique constraints).
    for field in _IDENTIFIERS:
        if values[field] is not None and await db.scalar(
            select(Customer.id).where(getattr(Customer, field) == values[field])
        ):
            raise _taken(field)
    customer_id = uuid.uuid4()
    try:
        async with db.begin_nested():
            await db.execute(insert(Customer).values(id=customer_id, **values))
    except IntegrityError as exc:
        field = next((f for f in _IDENTIFIERS if f"uq_customers_{f}" in str(exc.orig)), "email")
        raise _taken(field) from None
    # A new customer may already belong to segments (no orders yet, consent).
    await segments.refresh_customers(db, [customer_id], datetime.now(UTC))
    return await get_customer(db, customer_id)


def _taken(field: str) -> Conflict:
    return Conflict(
        f"This {field} is already linked to another customer; look that customer up instead.",
        code="identifier_taken",
        errors=[{"key": field, "message": "already linked to another customer"}],
    )


async def get_customer(db: AsyncSession, customer_id: uuid.UUID) -> CustomerOut:
    customer = await db.get(Customer, customer_id, populate_existing=True)
    if customer is None:
        raise NotFound(f"No customer with id {customer_id}.")
    return customer_out(customer)


async def require_customer(db: AsyncSession, customer_id: uuid.UUID) -> None:
    if await db.scalar(select(Customer.id).where(Customer.id == customer_id)) is None:
        raise NotFound(f"No customer with id {customer_id}.")


async def find_customers(db: AsyncSession, data: CustomerIn) -> list[CustomerOut]:
    """Customers matching every identifier given (each is unique, so at most one)."""
    values = {k: v for k, v in normalised(data).items() if v is not None}
    if not values:
        raise Unprocessable("Search by `email`, `phone` or `loyalty_id`.", code="identifier_required")
    stmt = select(Customer).order_by(Customer.id)
    for field, value in values.items():
        stmt = stmt.where(getattr(Customer, field) == value)
    return [customer_out(c) for c in await db.scalars(stmt)]
