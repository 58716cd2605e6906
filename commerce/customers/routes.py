from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from litestar import Controller, get, post
from litestar.params import FromPath, JSONBody, QueryParameter

from commerce.auth.guards import allow
from commerce.customers import history, service
from commerce.customers.history import Purchase
from commerce.customers.schemas import CustomerIn, CustomerOut
from commerce.db import Db
from commerce.errors import Unprocessable, problem_responses
from commerce.pagination import Cursor, Limit, Page, decode_cursor, encode_cursor


class CustomerController(Controller):
    path = "/v1/customers"
    tags = ["Customers"]
    guards = [allow("storefront", "associate")]

    @post(
        "/",
        summary="Create a customer",
        description="At least one identifier. Emails are stored lower-cased and phones as digits with an optional "
        "leading `+`. An identifier already linked to another customer is 409 `identifier_taken` (`errors[0].key` "
        "names it).",
        responses=problem_responses(401, 403, 409, 422),
    )
    async def create_customer(self, db: Db, data: JSONBody[CustomerIn]) -> CustomerOut:
        return await service.create_customer(db, data)

    @get("/{customer_id:uuid}", summary="One customer", responses=problem_responses(401, 403, 404))
    async def get_customer(self, db: Db, customer_id: FromPath[uuid.UUID]) -> CustomerOut:
        return await service.get_customer(db, customer_id)

    @get(
        "/{customer_id:uuid}/orders",
        summary="The customer's purchases on every channel, newest first",
        description="Web, mobile and in-store orders, and till sales and returns that carried the customer's "
        "loyalty id, in one list.",
        responses=problem_responses(401, 403, 404, 422),
    )
    async def purchase_history(
        self, db: Db, customer_id: FromPath[uuid.UUID], limit: Limit = 50, cursor: Cursor = None
    ) -> Page[Purchase]:
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

    @get(
        "/",
        summary="Find customers by an identifier",
        description="Give `email`, `phone` or `loyalty_id` (normalised as on creation); several must all match.",
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
