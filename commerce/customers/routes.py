from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, patch, post
from litestar.params import FromPath, JSONBody, QueryParameter

from commerce.auth.guards import allow, ensure_self
from commerce.auth.schemas import CUSTOMER, Principal
from commerce.customers import history, service
from commerce.customers.history import Purchase
from commerce.customers.schemas import CustomerIn, CustomerOut, CustomerPatch
from commerce.db import Db
from commerce.errors import Forbidden, Unprocessable, problem_responses
from commerce.pagination import Cursor, Limit, Page, decode_cursor, encode_cursor
from commerce.promotions import service as promotions
from commerce.promotions.schemas import OfferOut

SELF = "A customer token reaches its own customer only; any other id answers 404."


class CustomerController(Controller):
    path = "/v1/customers"
    tags = ["Customers"]
    guards = [allow("associate", CUSTOMER)]

    @post(
        "/",
        guards=[allow("associate")],
        summary="Create a customer",
        description="At least one identifier. Emails are stored lower-cased and phones in E.164 (a number without "
        "a country code is read as one of `COMMERCE_DEFAULT_PHONE_REGION`; not a valid number: 422 `invalid_phone`). "
        "An identifier already linked to another customer is 409 `identifier_taken`: `errors[0].key` names it and "
        "`customer_id` the customer holding it (often one a till sale or an imported order created with just that "
        "identifier): PATCH that customer instead. `marketing_consent` given here is the first entry of the "
        "customer's consent log.",
        responses=problem_responses(401, 403, 409, 422),
    )
    async def create_customer(
        self, db: Db, request: Request[Principal, Any, Any], data: JSONBody[CustomerIn]
    ) -> CustomerOut:
        return await service.create_customer(db, data, source=request.user.source, reveal=True)

    @get("/{customer_id:uuid}", summary="One customer", description=SELF, responses=problem_responses(401, 403, 404))
    async def get_customer(
        self, db: Db, request: Request[Principal, Any, Any], customer_id: FromPath[uuid.UUID]
    ) -> CustomerOut:
        ensure_self(request.user, customer_id)
        return await service.get_customer(db, customer_id)

    @patch(
        "/{customer_id:uuid}",
        summary="Change a customer's identifiers or marketing consent",
        description="Only the fields sent change; `null` removes an identifier (one must remain). An identifier "
        "already linked to another customer is 409 `identifier_taken` (with `customer_id`, the customer holding it, "
        "for an admin or associate key). Every consent change is kept with its time "
        "and who made it (`role:key id`). A customer token may change its own email, phone and consent; the "
        "loyalty id, which links till sales to the customer, only an admin or associate key. " + SELF,
        responses=problem_responses(401, 403, 404, 409, 422),
    )
    async def update_customer(
        self,
        db: Db,
        request: Request[Principal, Any, Any],
        customer_id: FromPath[uuid.UUID],
        data: JSONBody[CustomerPatch],
    ) -> CustomerOut:
        ensure_self(request.user, customer_id)
        if request.user.role == CUSTOMER and not isinstance(data.loyalty_id, msgspec.UnsetType):
            raise Forbidden("The loyalty id is set by the retailer (an admin or associate key), not by the shopper.")
        return await service.update_customer(
            db, customer_id, data, source=request.user.source, reveal=request.user.role != CUSTOMER
        )

    @get(
        "/{customer_id:uuid}/offers",
        summary="The promotions this customer qualifies for now",
        description=promotions.OFFERS_DOC + " " + SELF,
        responses=problem_responses(401, 403, 404, 422),
    )
    async def offers(
        self,
        db: Db,
        request: Request[Principal, Any, Any],
        customer_id: FromPath[uuid.UUID],
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> Page[OfferOut]:
        ensure_self(request.user, customer_id)
        return await customer_offers(db, customer_id, limit, cursor)

    @get(
        "/{customer_id:uuid}/orders",
        summary="The customer's purchases on every channel, newest first",
        description="Web, mobile and in-store orders, and till sales and returns that carried the customer's "
        "loyalty id, in one list. " + SELF,
        responses=problem_responses(401, 403, 404, 422),
    )
    async def purchase_history(
        self,
        db: Db,
        request: Request[Principal, Any, Any],
        customer_id: FromPath[uuid.UUID],
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> Page[Purchase]:
        ensure_self(request.user, customer_id)
        return await purchase_page(db, customer_id, limit, cursor)

    @get(
        "/",
        guards=[allow("associate")],
        summary="Find customers by an identifier",
        description="Give `email`, `phone` or `loyalty_id` (normalised as on creation); several must all match. "
        "Storefront keys are public and customer tokens act for one customer, so neither may search.",
        responses=problem_responses(401, 403, 422),
    )
    async def find_customers(
        self,
        db: Db,
        email: Annotated[str | None, QueryParameter(min_length=3, max_length=320)] = None,
        phone: Annotated[str | None, QueryParameter(min_length=5, max_length=40)] = None,
        loyalty_id: Annotated[str | None, QueryParameter(min_length=1, max_length=64)] = None,
    ) -> Page[CustomerOut]:
        found = await service.find_customers(db, CustomerIn(email=email, phone=phone, loyalty_id=loyalty_id))
        return Page(items=found, next_cursor=None)


async def customer_offers(db: Db, customer_id: uuid.UUID, limit: int, cursor: str | None) -> Page[OfferOut]:
    """One page of the customer's offers (`/v1/customers/{id}/offers` and `/v1/me/offers`)."""
    await service.require_customer(db, customer_id)
    return await promotions.customer_offers(db, customer_id, datetime.now(UTC), limit, cursor)


async def purchase_page(db: Db, customer_id: uuid.UUID, limit: int, cursor: str | None) -> Page[Purchase]:
    """One page of the customer's purchase history (`/v1/customers/{id}/orders` and `/v1/me/orders`)."""
    key = decode_cursor(cursor, 5)
    position: history.Position | None = None
    if key is not None:
        try:
            position = (
                datetime.fromisoformat(key[0]) if key[0] else None,
                uuid.UUID(key[1]) if key[1] else None,
                datetime.fromisoformat(key[2]) if key[2] else None,
                key[3],
                key[4],
            )
        except (TypeError, ValueError):
            raise Unprocessable("`cursor` is not one this server issued.", code="invalid_cursor") from None
    items, after = await history.purchase_history(db, customer_id, limit, position)
    next_cursor = None
    if after is not None:
        o_at, o_id, s_at, s_store, s_event = after
        next_cursor = encode_cursor(
            o_at.isoformat() if o_at else None,
            str(o_id) if o_id else None,
            s_at.isoformat() if s_at else None,
            s_store,
            s_event,
        )
    return Page(items=items, next_cursor=next_cursor)
