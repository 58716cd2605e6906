from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, cast

import msgspec
from sqlalchemy import select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from commerce.customers import rules
from commerce.customers.models import ConsentChange, Customer
from commerce.customers.schemas import ConsentIn, CustomerIn, CustomerOut, CustomerPatch, MarketingConsent
from commerce.errors import Conflict, NotFound, Unprocessable
from commerce.segments import service as segments

_IDENTIFIERS = ("email", "phone", "loyalty_id")


def customer_out(c: Customer) -> CustomerOut:
    return CustomerOut(
        id=c.id,
        email=c.email,
        phone=c.phone,
        loyalty_id=c.loyalty_id,
        marketing_consent=MarketingConsent(email=c.email_consent, sms=c.sms_consent),
        created_at=c.created_at,
    )


def _normalise(field: str, value: str | None) -> str | None:
    if value is None:
        return None
    if field == "email":
        return rules.normalise_email(value)
    if field == "phone":
        return rules.normalise_phone(value)
    return rules.normalise_loyalty_id(value)


def normalised(data: CustomerIn) -> dict[str, str | None]:
    return {field: _normalise(field, getattr(data, field)) for field in _IDENTIFIERS}


def usable(given: Mapping[str, str | None]) -> tuple[dict[str, str | None], list[str]]:
    """The identifiers given (`email`, `phone`, `loyalty_id`, each maybe None), each checked and normalised
    on its own as a customer's is: those that are valid, the others None, and why each other one was left
    out. For records another system already accepted (till sales, imported orders), where a bad
    identifier loses the link to a customer, never the record."""
    values: dict[str, str | None] = dict.fromkeys(_IDENTIFIERS)
    ignored: list[str] = []
    for field in _IDENTIFIERS:
        value = given.get(field)
        if value is None:
            continue
        try:
            checked = getattr(msgspec.convert({field: value}, CustomerIn), field)
            values[field] = _normalise(field, checked)
        except msgspec.ValidationError as exc:
            ignored.append(f"`{field}` {value!r} ignored: {exc}")
        except Unprocessable as exc:
            ignored.append(f"`{field}` {value!r} ignored: {exc.detail}")
    return values, ignored


async def _ensure_free(
    db: AsyncSession, values: dict[str, str | None], customer_id: uuid.UUID | None, *, reveal: bool
) -> None:
    """Name the identifier already linked to another customer (a concurrent write is still caught by the
    unique constraints)."""
    for field, value in values.items():
        if value is None:
            continue
        owner = await db.scalar(select(Customer.id).where(getattr(Customer, field) == value))
        if owner is not None and owner != customer_id:
            raise _taken(field, owner if reveal else None)


async def _write(db: AsyncSession, stmt: Any, values: Mapping[str, Any], *, reveal: bool) -> None:
    try:
        async with db.begin_nested():
            await db.execute(stmt)
    except IntegrityError as exc:
        field = next((f for f in _IDENTIFIERS if f"uq_customers_{f}" in str(exc.orig)), None)
        if field is None:
            raise
        owner = await db.scalar(select(Customer.id).where(getattr(Customer, field) == values[field]))
        raise _taken(field, owner if reveal else None) from None


async def create_customer(
    db: AsyncSession, data: CustomerIn, *, source: str = "system", reveal: bool = False
) -> CustomerOut:
    """Create a customer; `source` (`role:key id`) is kept with a marketing consent given here. With
    `reveal` (a caller that may read customers), an `identifier_taken` conflict names the customer
    holding the identifier."""
    values = normalised(data)
    if all(v is None for v in values.values()):
        raise Unprocessable("Give at least one of `email`, `phone`, `loyalty_id`.", code="identifier_required")
    await _ensure_free(db, values, None, reveal=reveal)
    consent = rules.consent_changes(
        {"email": False, "sms": False}, _consent_asked(data.marketing_consent or ConsentIn())
    )
    customer_id = uuid.uuid4()
    await _write(
        db,
        insert(Customer).values(
            id=customer_id,
            **values,
            email_consent=consent.get("email", False),
            sms_consent=consent.get("sms", False),
        ),
        values,
        reveal=reveal,
    )
    await _record_consent(db, customer_id, consent, source)
    # A new customer may already belong to segments (no orders yet, consent).
    await segments.refresh_customers(db, [customer_id], datetime.now(UTC))
    return await get_customer(db, customer_id)


async def update_customer(
    db: AsyncSession, customer_id: uuid.UUID, data: CustomerPatch, *, source: str, reveal: bool = False
) -> CustomerOut:
    """Change identifiers and marketing consent; each consent change is kept with its time and source.
    `reveal` as for create_customer."""
    customer = await db.get(Customer, customer_id, with_for_update=True, populate_existing=True)
    if customer is None:
        raise NotFound(f"No customer with id {customer_id}.")
    changed = {
        field: _normalise(field, value)
        for field in _IDENTIFIERS
        if not isinstance(value := getattr(data, field), msgspec.UnsetType)
    }
    after = {field: changed.get(field, getattr(customer, field)) for field in _IDENTIFIERS}
    if all(v is None for v in after.values()):
        raise Unprocessable(
            "A customer keeps at least one of `email`, `phone`, `loyalty_id`.", code="identifier_required"
        )
    await _ensure_free(db, changed, customer_id, reveal=reveal)
    consent: dict[str, bool] = {}
    if not isinstance(data.marketing_consent, msgspec.UnsetType):
        consent = rules.consent_changes(
            {"email": customer.email_consent, "sms": customer.sms_consent},
            _consent_asked(data.marketing_consent),
        )
    values: dict[str, Any] = dict(changed)
    values.update({f"{channel}_consent": granted for channel, granted in consent.items()})
    if values:
        await _write(db, update(Customer).where(Customer.id == customer_id).values(**values), values, reveal=reveal)
        # Consent is a segment fact.
        await segments.refresh_customers(db, [customer_id], datetime.now(UTC))
    await _record_consent(db, customer_id, consent, source)
    return await get_customer(db, customer_id)


def _consent_asked(data: ConsentIn) -> dict[str, bool]:
    return {
        channel: granted
        for channel in ("email", "sms")
        if not isinstance(granted := getattr(data, channel), msgspec.UnsetType)
    }


async def _record_consent(db: AsyncSession, customer_id: uuid.UUID, changes: dict[str, bool], source: str) -> None:
    if changes:
        await db.execute(
            insert(ConsentChange),
            [
                {"customer_id": customer_id, "channel": channel, "granted": granted, "source": source[:80]}
                for channel, granted in sorted(changes.items())
            ],
        )


def _taken(field: str, owner: uuid.UUID | None) -> Conflict:
    """409 naming the identifier and, when the caller may read customers, the customer holding it (often one
    a till sale or an imported order created with just that identifier): update that one instead."""
    errors = [{"key": field, "message": "already linked to another customer"}]
    if owner is None:
        return Conflict(
            f"This {field} is already linked to another customer; look that customer up instead.",
            code="identifier_taken",
            errors=errors,
        )
    return Conflict(
        f"This {field} is already linked to customer {owner} (perhaps created by a till sale or an imported "
        f"order): to give that customer the other details, PATCH /v1/customers/{owner} instead.",
        code="identifier_taken",
        errors=errors,
        customer_id=str(owner),
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


def match_sql(loyalty_id: str, email: str, phone: str) -> str:
    """SQL for the id of the customer a set of identifiers belongs to (given as SQL expressions, each
    maybe NULL): the one linked to the most specific identifier that is linked at all (loyalty id, then
    email, then phone), else NULL. Three lookups on the unique indexes; `coalesce` stops at the first hit."""
    return (
        f"coalesce((SELECT mc.id FROM customers mc WHERE mc.loyalty_id = {loyalty_id}), "
        f"(SELECT mc.id FROM customers mc WHERE mc.email = {email}), "
        f"(SELECT mc.id FROM customers mc WHERE mc.phone = {phone}))"
    )


# One customer for each set of identifiers that matches none, holding all of them. In a fixed order, so
# two transactions creating the same customers wait on each other instead of deadlocking; a concurrent
# creation of the same customer (any identifier unique) makes the row a no-op, and matching afterwards
# finds that customer.
_CREATE_UNMATCHED = text(
    f"""
    INSERT INTO customers (id, loyalty_id, email, phone)
    SELECT gen_random_uuid(), i.loyalty_id, i.email, i.phone
    FROM jsonb_to_recordset(CAST(:identifiers AS jsonb)) AS i(loyalty_id text, email text, phone text)
    WHERE {match_sql("i.loyalty_id", "i.email", "i.phone")} IS NULL
    ORDER BY i.loyalty_id, i.email, i.phone
    ON CONFLICT DO NOTHING
    """
)
_MATCH = text(f"SELECT {match_sql('CAST(:loyalty_id AS text)', 'CAST(:email AS text)', 'CAST(:phone AS text)')}")


async def create_unmatched(db: AsyncSession, identifiers: Iterable[Mapping[str, str | None]]) -> None:
    """Create a customer for each set of normalised identifiers (`loyalty_id`, `email`, `phone`) that no
    customer holds any of, in one statement for any number of sets. A set matching a customer changes
    nothing: a matched customer is left as it is."""
    sets = sorted({(i.get("loyalty_id"), i.get("email"), i.get("phone")) for i in identifiers}, key=str)
    sets = [s for s in sets if any(s)]
    if sets:
        await db.execute(
            _CREATE_UNMATCHED,
            {
                "identifiers": msgspec.json.encode(
                    [{"loyalty_id": lo, "email": em, "phone": ph} for lo, em, ph in sets]
                ).decode()
            },
        )


async def match_or_create(db: AsyncSession, values: Mapping[str, str | None]) -> uuid.UUID:
    """The customer one of these normalised identifiers belongs to, or a new customer holding all of them.

    Identifiers are tried from the most to the least specific (loyalty id, email, phone); the first
    that is linked wins, and a matched customer is left as it is. A concurrent creation of the same
    customer is found again rather than failing. Till sales are matched by the same SQL, set-based
    (pos/service.py).
    """
    if all(value is None for value in values.values()):
        raise Unprocessable("Give at least one of `email`, `phone`, `loyalty_id`.", code="identifier_required")
    for attempt in range(2):
        found = await db.scalar(_MATCH, dict(values))
        if found is not None:
            return cast(uuid.UUID, found)
        if attempt == 0:
            await create_unmatched(db, [values])
    # Only if a customer holding one identifier was created and then changed between our reads.
    raise Conflict("The customer's identifiers changed while this order was recorded; retry.", code="retry")
