from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, QueryParameter, RequestBody

from commerce.auth.guards import allow, ensure_store
from commerce.auth.schemas import Principal
from commerce.db import Db
from commerce.errors import problem_responses
from commerce.idempotency import IdempotencyKey, idempotent
from commerce.orders import service
from commerce.orders.checkout import checkout
from commerce.orders.rules import Action, OrderStatus
from commerce.orders.schemas import CheckoutIn, OrderOut
from commerce.pagination import Cursor, Limit, Page, decode_cursor, encode_cursor
from commerce.settings import Settings

CHECKOUT_DOC = """Reserves every line in one transaction and places the order: pickup lines at their store
(held until `pickup.hold_until`), ship lines at a warehouse, or a store when no warehouse has them
(the nearest to `ship_to` when given). Requires `Idempotency-Key`: a retry with the same key returns
the same order. Any short line is 409 `insufficient_stock` listing every short line, and nothing is
reserved. The cart is closed."""


class OrderController(Controller):
    path = "/v1"
    tags = ["Orders"]

    @post(
        "/carts/{cart_id:str}/checkout",
        guards=[allow("storefront", "associate")],
        summary="Check out a cart",
        description=CHECKOUT_DOC,
        status_code=201,
        responses=problem_responses(400, 401, 403, 404, 409, 422),
    )
    async def checkout(
        self,
        db: Db,
        request: Request[Principal, Any, Any],
        cart_id: FromPath[str],
        idempotency_key: IdempotencyKey = None,
        data: RequestBody[CheckoutIn | None] = None,
    ) -> Response[OrderOut]:
        settings: Settings = request.app.state.settings
        now = datetime.now(UTC)
        return await idempotent(
            db,
            request,
            idempotency_key,
            lambda: checkout(db, cart_id, data or CheckoutIn(), request.user, settings, now),
            status_code=201,
            required=True,
        )

    @get(
        "/orders/{order_id:uuid}",
        guards=[allow("storefront", "associate", "integration")],
        summary="One order",
        responses=problem_responses(401, 403, 404),
    )
    async def get_order(self, db: Db, request: Request[Principal, Any, Any], order_id: FromPath[uuid.UUID]) -> OrderOut:
        return await service.get_order(db, order_id, request.user)

    async def _act(
        self, db: Db, request: Request[Principal, Any, Any], order_id: uuid.UUID, action: Action
    ) -> OrderOut:
        return await service.transition(db, order_id, action, request.user)

    @post(
        "/orders/{order_id:uuid}/ready",
        guards=[allow("associate")],
        summary="Mark a pickup order ready for pickup",
        status_code=200,
        responses=problem_responses(401, 403, 404, 409),
    )
    async def ready(self, db: Db, request: Request[Principal, Any, Any], order_id: FromPath[uuid.UUID]) -> OrderOut:
        return await self._act(db, request, order_id, "ready")

    @post(
        "/orders/{order_id:uuid}/collect",
        guards=[allow("associate")],
        summary="Hand a pickup order to the shopper",
        description="Consumes the reservation: on_hand and reserved both drop at the pickup store.",
        status_code=200,
        responses=problem_responses(401, 403, 404, 409),
    )
    async def collect(self, db: Db, request: Request[Principal, Any, Any], order_id: FromPath[uuid.UUID]) -> OrderOut:
        return await self._act(db, request, order_id, "collect")

    @post(
        "/orders/{order_id:uuid}/ship",
        guards=[allow("associate", "integration")],
        summary="Ship an order's ship lines",
        description="Consumes the ship lines' reservations at the locations that reserved them.",
        status_code=200,
        responses=problem_responses(401, 403, 404, 409),
    )
    async def ship(self, db: Db, request: Request[Principal, Any, Any], order_id: FromPath[uuid.UUID]) -> OrderOut:
        return await self._act(db, request, order_id, "ship")

    @post(
        "/orders/{order_id:uuid}/cancel",
        guards=[allow("storefront", "associate", "integration")],
        summary="Cancel an order",
        description="Releases every reservation it still holds.",
        status_code=200,
        responses=problem_responses(401, 403, 404, 409),
    )
    async def cancel(self, db: Db, request: Request[Principal, Any, Any], order_id: FromPath[uuid.UUID]) -> OrderOut:
        return await self._act(db, request, order_id, "cancel")

    @get(
        "/stores/{code:str}/orders",
        guards=[allow("associate")],
        summary="The store's pickup orders, oldest first",
        responses=problem_responses(401, 403, 422),
    )
    async def store_orders(
        self,
        db: Db,
        request: Request[Principal, Any, Any],
        code: FromPath[str],
        status: Annotated[OrderStatus | None, QueryParameter(description="Only orders in this status")] = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> Page[OrderOut]:
        ensure_store(request.user, code)
        key = decode_cursor(cursor, 2)
        orders = await service.pickup_orders(db, code, status, limit, (str(key[0]), str(key[1])) if key else None)
        next_cursor = (
            encode_cursor(orders[-1].created_at.isoformat(), str(orders[-1].id)) if len(orders) == limit else None
        )
        return Page(items=orders, next_cursor=next_cursor)
