from __future__ import annotations

import uuid
from typing import cast

from sqlalchemy import or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from commerce.customers import rules
from commerce.customers.models import Customer
from commerce.customers.schemas import CustomerIn, CustomerOut
from commerce.errors import Conflict, NotFound, Unprocessable

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


async def match_or_create(db: AsyncSession, data: CustomerIn) -> uuid.UUID:
    """The customer one of these identifiers belongs to, or a new customer holding all of them.

    Identifiers are tried from the most to the least specific (loyalty id, email, phone); the first
    that is linked wins, and a matched customer is left as it is. A concurrent creation of the same
    customer is found again rather than failing.
    """
    values = normalised(data)
    given = [(field, value) for field in ("loyalty_id", "email", "phone") if (value := values[field]) is not None]
    if not given:
        raise Unprocessable("Give at least one of `email`, `phone`, `loyalty_id`.", code="identifier_required")
    for _ in range(2):
        found = await _first_match(db, given)
        if found is not None:
            return found
        customer_id = uuid.uuid4()
        created = await db.scalar(
            insert(Customer).values(id=customer_id, **values).on_conflict_do_nothing().returning(Customer.id)
        )
        if created is not None:
            return customer_id
    # Only if a customer holding one identifier was created and then changed between our reads.
    raise Conflict("The customer's identifiers changed while this order was recorded; retry.", code="retry")


async def _first_match(db: AsyncSession, given: list[tuple[str, str]]) -> uuid.UUID | None:
    """The customer linked to the first of `given` (in its order) that is linked to one, in one query."""
    rows = (
        await db.execute(
            select(Customer.id, Customer.loyalty_id, Customer.email, Customer.phone).where(
                or_(*(getattr(Customer, field) == value for field, value in given))
            )
        )
    ).all()
    for field, value in given:
        for row in rows:
            if getattr(row, field) == value:
                return cast(uuid.UUID, row.id)
    return None
