from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.datastructures import ResponseHeader
from litestar.params import FromPath, HeaderParameter, JSONBody, PathParameter, QueryParameter

from commerce.auth.guards import allow, ensure_self
from commerce.auth.schemas import CUSTOMER, Principal
from commerce.carts import pricing, rules, service
from commerce.carts.schemas import CartIn, CartOut, CodeIn, LineIn, LinePatch, MergeIn
from commerce.db import Db
from commerce.errors import problem_responses
from commerce.money import Currency
from commerce.promotions.schemas import Channel
from commerce.settings import Settings

CartIdPath = Annotated[str, PathParameter(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")]
IfMatch = Annotated[
    str | None,
    HeaderParameter(
        name="If-Match",
        required=False,
        description="The `ETag` of your last read; a stale one is 412 `version_conflict` and changes nothing.",
    ),
]
ETAG = [
    ResponseHeader(name="ETag", description="The cart's version; send it back as `If-Match`", documentation_only=True)
]
NewCartChannel = Annotated[Channel, QueryParameter(description="Channel of a newly created cart")]
NewCartCurrency = Annotated[Currency, QueryParameter(description="Currency of a newly created cart (ISO 4217)")]
MERGE_DOC = (
    "Lines move (same SKU and fulfillment: quantities add; a sum past 999 is 422 `quantity_limit` and nothing "
    "is merged), codes carry over and the anonymous "
    "cart is closed (`status: merged`, `merged_into`). Repeating it changes nothing. Call it when the shopper "
    "signs in, with the cart they filled before. A customer token merges into its own cart only, from an "
    "anonymous cart or its own."
)
CART_DESCRIPTION = (
    "Priced live on every read: catalog price, at most one promotion per line (promotions/rules), and "
    "availability per line (pickup: at its store; ship: the location that would ship it)."
)


async def cart_response(
    db: Db, request: Request[Any, Any, Any], cart_id: str, status_code: int = 200
) -> Response[CartOut]:
    settings: Settings = request.app.state.settings
    cart = await pricing.priced_cart(
        db, cart_id, low_stock_threshold=settings.low_stock_threshold, now=datetime.now(UTC)
    )
    if cart.merged_into is not None and request.user.role == "storefront":
        # The cart a merged cart went to is a signed-in customer's: its id is not the public key's to learn.
        cart = msgspec.structs.replace(cart, merged_into=None)
    return Response(cart, status_code=status_code, headers={"ETag": f'"{cart.version}"'})


REACH = (
    "The cart's id is the capability to use it: a storefront, associate or admin key that holds it may. A "
    "customer token reaches its own carts and anonymous ones; another customer's cart answers 404."
)


class CartController(Controller):
    path = "/v1/carts"
    tags = ["Carts"]
    guards = [allow("storefront", "associate", CUSTOMER)]
    response_headers = ETAG

    @post(
        "/",
        summary="Create a cart",
        description="Channels: web, mobile, store, kiosk, call_center. The returned `id` is unguessable and is "
        "the capability to use the cart. A storefront key creates anonymous carts; a customer token's cart "
        "belongs to its customer; only admin and associate keys may name `customer_id` (403 otherwise). A "
        "customer with an active cart already: 409 `active_cart_exists`.",
        responses=problem_responses(401, 403, 404, 409, 422),
    )
    async def create_cart(
        self, db: Db, request: Request[Principal, Any, Any], data: JSONBody[CartIn]
    ) -> Response[CartOut]:
        return await cart_response(db, request, await service.create_cart(db, data, request.user), status_code=201)

    @get(
        "/{cart_id:str}",
        summary="The priced cart",
        description=CART_DESCRIPTION + " " + REACH,
        responses=problem_responses(401, 403, 404),
    )
    async def get_cart(self, db: Db, request: Request[Principal, Any, Any], cart_id: CartIdPath) -> Response[CartOut]:
        await service.reach_cart(db, request.user, cart_id)
        return await cart_response(db, request, cart_id)

    @post(
        "/{cart_id:str}/lines",
        summary="Add a line",
        description="The same SKU and fulfillment again adds to that line (at most 999). Pickup needs a store "
        "that offers it (422 `pickup_unavailable`); an unknown SKU is 422 `unknown_sku`; prices come only from "
        "the catalog. Returns the priced cart.",
        status_code=200,
        responses=problem_responses(400, 401, 403, 404, 409, 412, 422),
    )
    async def add_line(
        self,
        db: Db,
        request: Request[Principal, Any, Any],
        cart_id: CartIdPath,
        data: JSONBody[LineIn],
        if_match: IfMatch = None,
    ) -> Response[CartOut]:
        await service.reach_cart(db, request.user, cart_id)
        await service.add_line(db, cart_id, rules.parse_if_match(if_match), data)
        return await cart_response(db, request, cart_id)

    @patch(
        "/{cart_id:str}/lines/{line_id:int}",
        summary="Change a line's quantity or fulfillment",
        description="Quantity 0 removes the line; a fulfillment that another line of the same SKU already has "
        "merges the two.",
        responses=problem_responses(400, 401, 403, 404, 409, 412, 422),
    )
    async def update_line(
        self,
        db: Db,
        request: Request[Principal, Any, Any],
        cart_id: CartIdPath,
        line_id: FromPath[int],
        data: JSONBody[LinePatch],
        if_match: IfMatch = None,
    ) -> Response[CartOut]:
        await service.reach_cart(db, request.user, cart_id)
        await service.update_line(db, cart_id, line_id, rules.parse_if_match(if_match), data)
        return await cart_response(db, request, cart_id)

    @delete(
        "/{cart_id:str}/lines/{line_id:int}",
        summary="Remove a line",
        status_code=200,
        responses=problem_responses(400, 401, 403, 404, 409, 412),
    )
    async def remove_line(
        self,
        db: Db,
        request: Request[Principal, Any, Any],
        cart_id: CartIdPath,
        line_id: FromPath[int],
        if_match: IfMatch = None,
    ) -> Response[CartOut]:
        await service.reach_cart(db, request.user, cart_id)
        await service.remove_line(db, cart_id, line_id, rules.parse_if_match(if_match))
        return await cart_response(db, request, cart_id)

    @post(
        "/{cart_id:str}/codes",
        summary="Add a coupon code",
        description="Case-insensitive. An unknown, killed, expired or not yet started code is 422 `invalid_code`.",
        status_code=200,
        responses=problem_responses(400, 401, 403, 404, 409, 412, 422),
    )
    async def add_code(
        self,
        db: Db,
        request: Request[Principal, Any, Any],
        cart_id: CartIdPath,
        data: JSONBody[CodeIn],
        if_match: IfMatch = None,
    ) -> Response[CartOut]:
        await service.reach_cart(db, request.user, cart_id)
        await service.add_code(db, cart_id, rules.parse_if_match(if_match), data.code)
        return await cart_response(db, request, cart_id)

    @delete(
        "/{cart_id:str}/codes/{code:str}",
        summary="Remove a coupon code",
        status_code=200,
        responses=problem_responses(400, 401, 403, 404, 409, 412),
    )
    async def remove_code(
        self,
        db: Db,
        request: Request[Principal, Any, Any],
        cart_id: CartIdPath,
        code: FromPath[str],
        if_match: IfMatch = None,
    ) -> Response[CartOut]:
        await service.reach_cart(db, request.user, cart_id)
        await service.remove_code(db, cart_id, rules.parse_if_match(if_match), code)
        return await cart_response(db, request, cart_id)


class CustomerCartController(Controller):
    path = "/v1/customers/{customer_id:uuid}/cart"
    tags = ["Carts"]
    guards = [allow("associate", CUSTOMER)]
    response_headers = ETAG

    @get(
        "/",
        summary="The customer's one active cart, created if none",
        description="The same cart from every device. `channel` and `currency` are used only when the cart is "
        "created here. A customer token reaches its own customer only (`/v1/me/cart` is the same). " + CART_DESCRIPTION,
        responses=problem_responses(401, 403, 404, 422),
    )
    async def customer_cart(
        self,
        db: Db,
        request: Request[Principal, Any, Any],
        customer_id: FromPath[uuid.UUID],
        channel: NewCartChannel = "web",
        currency: NewCartCurrency = "USD",
    ) -> Response[CartOut]:
        ensure_self(request.user, customer_id)
        cart_id = await service.customer_cart(db, customer_id, channel=channel, currency=currency)
        return await cart_response(db, request, cart_id)

    @post(
        "/merge",
        summary="Merge an anonymous cart into the customer's cart",
        description=MERGE_DOC,
        status_code=200,
        responses=problem_responses(401, 403, 404, 409, 422),
    )
    async def merge(
        self,
        db: Db,
        request: Request[Principal, Any, Any],
        customer_id: FromPath[uuid.UUID],
        data: JSONBody[MergeIn],
    ) -> Response[CartOut]:
        ensure_self(request.user, customer_id)
        cart_id = await service.merge_into_customer_cart(db, customer_id, data.cart_id, request.user)
        return await cart_response(db, request, cart_id)
