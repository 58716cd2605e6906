from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, QueryParameter, RequestBody

from commerce.auth.guards import allow, ensure_store
from commerce.auth.schemas import CUSTOMER, Principal
from commerce.db import Db
from commerce.errors import Unprocessable, problem_responses
from commerce.idempotency import IdempotencyKey, idempotent, request_fingerprint, require_key
from commerce.openapi import REQUIRED_HEADERS
from commerce.orders import imports, service
from commerce.orders.batching import CheckoutBatcher
from commerce.orders.checkout import CheckoutRequest
from commerce.orders.rules import Action, OrderStatus
from commerce.orders.schemas import CheckoutIn, OrderImportIn, OrderOut
from commerce.pagination import Cursor, Limit, Page, decode_cursor, encode_cursor
from commerce.settings import Settings

CHECKOUT_DOC = """Reserves every line in one transaction and places the order: pickup lines at their store
(held until `pickup.hold_until`), ship lines at a warehouse, or a store when no warehouse has them
(the nearest to `ship_to` when given). Requires `Idempotency-Key`: a retry with the same key returns
the same order. Any short line is 409 `insufficient_stock` listing every short line, and nothing is
reserved. The cart is closed.

A customer token checks out its own carts and anonymous ones (the order then belongs to its customer);
another customer's cart answers 404.

Promotions with a limit or single-use codes are counted in the same transaction: when another checkout
used up the limit first the answer is 409 `promotion_limit_reached` (with `promotion_id`), when another
order redeemed one of the cart's single-use codes first 409 `code_used`, and nothing is written. Read
the cart again (it now prices without that promotion, or remove the code) and check out again."""
ORDER_REACH = (
    "The order's id is the capability for a storefront key. An associate key reaches orders its store "
    "handles; a customer token its own customer's orders (another customer's answer 404)."
)


REQUIRED_HEADERS["/v1/carts/{cart_id}/checkout"] = ("Idempotency-Key",)


class OrderController(Controller):
    path = "/v1"
    tags = ["Orders"]

    @post(
        "/carts/{cart_id:str}/checkout",
        guards=[allow("storefront", "associate", CUSTOMER)],
        summary="Check out a cart",
        description=CHECKOUT_DOC,
        status_code=201,
        responses=problem_responses(400, 401, 403, 404, 409, 422, 503),
    )
    async def checkout(
        self,
        request: Request[Principal, Any, Any],
        cart_id: FromPath[str],
        idempotency_key: IdempotencyKey = None,
        data: RequestBody[CheckoutIn | None] = None,
    ) -> Response[OrderOut]:  # the body: OrderOut encoded
        key = require_key(idempotency_key)
        fingerprint = request_fingerprint(request.method, request.url.path, await request.body())
        # The key is claimed, read and stored by checkout's own statements (orders/checkout.py), in a
        # transaction shared with the checkouts that queued with it (orders/batching.py); the body is
        # the bytes stored with the order, sent as they are.
        checkouts: CheckoutBatcher = request.app.state.checkouts
        answer = await checkouts.checkout(
            CheckoutRequest(cart_id, data or CheckoutIn(), request.user, datetime.now(UTC), key, fingerprint)
        )
        return Response(
            answer.body,  # type: ignore[arg-type]
            status_code=answer.status_code,
            media_type="application/json",
            headers={"Idempotent-Replayed": "true"} if answer.replayed else None,
        )

    @get(
        "/orders/{order_id:uuid}",
        guards=[allow("storefront", "associate", "integration", CUSTOMER)],
        summary="One order",
        description=ORDER_REACH,
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
        guards=[allow("storefront", "associate", "integration", CUSTOMER)],
        summary="Cancel an order",
        description="Releases every reservation it still holds. " + ORDER_REACH,
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


# --- Orders from other systems (imports) ---------------------------------------------------------

IMPORT_DOC = """An order another system (a web shop, a marketplace) already accepted and charged, recorded
here exactly once per (`source`, `external_id`): the first import is 201 with the order; importing
the same body again is 200 with the same order (concurrent duplicates create one order); another body
under the same pair is 422 `idempotency_conflict`. The pair is the key, so `Idempotency-Key` is not
needed; when sent, it works as on every other POST (a retry with it gets the first response again).

Prices are the ones charged there (`unit_price` per unit, `discount` for the whole line, all in
`currency`); the catalog's prices and promotions play no part. Each line's stock is reserved at the
named `fulfillment.store` as far as it goes and never refused: the units that could not be reserved
are the line's `backordered`, and an `order.backordered` event lists those lines. Pickup lines are
held until `pickup.hold_until` like a checkout's (all at one store); ship lines until the order is
shipped or cancelled. The customer is found by `loyalty_id`, then `email`, then `phone` (or created
with all of them), so the order joins their purchase history. A phone that is not a valid number
(read in `COMMERCE_DEFAULT_PHONE_REGION` without a country code) does not refuse the order: it is left
out of the matching (with no identifier left, the order has no customer) and the order keeps it as given.

Refused with nothing written (422): an unknown store (`unknown_store`) or SKU (`unknown_sku`), every
one listed in `errors`; pickup at a store that does not offer it (`pickup_unavailable`) or at
several (`multiple_pickup_stores`); money in another currency (`currency_mismatch`); a discount
above its line's price (`invalid_discount`); the same SKU twice for the same fulfillment
(`duplicate_line`); `placed_at` in the future (`invalid_placed_at`); an absurd total
(`amount_too_large`); a customer without any identifier (`identifier_required`). 409
`request_in_flight`: the same `Idempotency-Key` is still being processed."""

FIND_IMPORTED_DOC = """The orders imported from `source`, newest first. With `external_id`, the one order
imported under that pair: `items` holds it, or is empty when there is none (not a 404, so a client can
ask before importing)."""


class OrderImportController(Controller):
    path = "/v1/orders"
    tags = ["Orders"]
    guards = [allow("integration")]

    @post(
        "/import",
        summary="Import an order accepted and charged by another system",
        description=IMPORT_DOC,
        status_code=201,
        responses={
            200: ResponseSpec(data_container=OrderOut, description="Imported before: the same order"),
            **problem_responses(401, 403, 409, 422),
        },
    )
    async def import_order(
        self,
        db: Db,
        request: Request[Principal, Any, Any],
        data: RequestBody[OrderImportIn],
        idempotency_key: IdempotencyKey = None,
    ) -> Response[OrderOut]:
        settings: Settings = request.app.state.settings

        async def run() -> Response[OrderOut]:
            order, created = await imports.import_order(db, data, request.user, settings, datetime.now(UTC))
            return Response(order, status_code=201 if created else 200)

        return await idempotent(db, request, idempotency_key, run)

    @get(
        "/",
        summary="Find imported orders",
        description=FIND_IMPORTED_DOC,
        responses=problem_responses(401, 403, 422),
    )
    async def find_imported(
        self,
        db: Db,
        source: Annotated[str, QueryParameter(min_length=1, max_length=32, description="e.g. `shopify`")],
        external_id: Annotated[
            str | None, QueryParameter(min_length=1, max_length=255, description="The order's id in `source`")
        ] = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> Page[OrderOut]:
        key = decode_cursor(cursor, 1)
        if key is not None and not isinstance(key[0], int):
            raise Unprocessable(
                "`cursor` is not one this server issued; start again without it.", code="invalid_cursor"
            )
        orders = await imports.find_imported(db, source, external_id, limit, key[0] if key else None)
        return Page(items=orders, next_cursor=encode_cursor(orders[-1].number) if len(orders) == limit else None)
