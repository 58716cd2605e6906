from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from litestar import Controller, Request, delete, post
from litestar.params import FromPath, JSONBody, RequestBody

from commerce.auth import service
from commerce.auth.guards import allow
from commerce.auth.schemas import ApiKeyIn, ApiKeyOut, CustomerTokenIn, CustomerTokenOut, Principal
from commerce.db import Db
from commerce.errors import problem_responses


class ApiKeyController(Controller):
    path = "/v1/api-keys"
    tags = ["Auth"]
    guards = [allow("admin")]

    @post(
        "/",
        summary="Issue an API key",
        description="Returns the key once; only its hash is stored. `pos` and `associate` keys need `store`.",
        responses=problem_responses(401, 403, 404, 422),
    )
    async def create_key(self, db: Db, data: JSONBody[ApiKeyIn]) -> ApiKeyOut:
        return await service.create_key(db, data.role, data.store)


async def forget_revoked_tokens(request: Request[Any, Any, Any]) -> None:
    """After the revocation committed (the response is sent after the commit), drop the customer's
    tokens from this process's auth cache, so they stop working at once."""
    customer_id = request.path_params.get("customer_id")
    if isinstance(customer_id, uuid.UUID):
        request.app.state.key_resolver.forget_customer(customer_id)


TOKEN_DOC = """A customer token lets a signed-in shopper's app act for that one customer: their profile,
carts, orders, purchase history and offers (`/v1/me/...` and `/v1/customers/{id}/...` for their own id),
plus every public read. Send it as `Authorization: Bearer ct_...`. Another customer's resources answer
404. The retailer's sign-in service mints it with an admin key once the shopper has signed in, and
hands it to the app; it is shown once and only its hash is stored. An expired or revoked token is 401."""


class CustomerTokenController(Controller):
    path = "/v1/customers/{customer_id:uuid}/tokens"
    tags = ["Auth"]
    guards = [allow("admin")]

    @post(
        "/",
        summary="Mint a customer token",
        description=TOKEN_DOC + "\n\n`ttl_minutes`: 1 to 43,200 (30 days); default 1,440 (a day).",
        status_code=201,
        responses=problem_responses(401, 403, 404, 422),
    )
    async def create_token(
        self,
        db: Db,
        request: Request[Principal, Any, Any],
        customer_id: FromPath[uuid.UUID],
        data: RequestBody[CustomerTokenIn | None] = None,
    ) -> CustomerTokenOut:
        ttl = (data or CustomerTokenIn()).ttl_minutes
        return await service.create_customer_token(db, customer_id, ttl, created_by=request.user, now=datetime.now(UTC))

    @delete(
        "/",
        summary="Revoke all of a customer's tokens",
        description="Every token minted for the customer stops working at once (sign-out everywhere, a "
        "compromised device). Tokens minted afterwards work.",
        after_response=forget_revoked_tokens,
        responses=problem_responses(401, 403, 404),
    )
    async def revoke_tokens(self, db: Db, customer_id: FromPath[uuid.UUID]) -> None:
        await service.revoke_customer_tokens(db, customer_id)
