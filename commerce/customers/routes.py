from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, get, post
from litestar.params import FromPath, JSONBody, QueryParameter

from commerce.auth.guards import allow
from commerce.customers import service
from commerce.customers.schemas import CustomerIn, CustomerOut
from commerce.db import Db
from commerce.errors import problem_responses
from commerce.pagination import Page


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
