"""`/v1/me/...`: the signed-in shopper's own profile, cart, history and offers, for a customer token.

Each is the `/v1/customers/{id}/...` form for the token's own customer, so a storefront app needs no
customer id: it holds the token the retailer's sign-in service minted for the shopper.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.params import JSONBody

from commerce.auth.guards import customer_only, me
from commerce.auth.schemas import Principal
from commerce.carts import service as carts
from commerce.carts.routes import CART_DESCRIPTION, ETAG, MERGE_DOC, NewCartChannel, NewCartCurrency, cart_response
from commerce.carts.schemas import CartOut, MergeIn
from commerce.customers import service
from commerce.customers.history import Purchase
from commerce.customers.routes import customer_offers, purchase_page
from commerce.customers.schemas import CustomerOut
from commerce.db import Db
from commerce.errors import problem_responses
from commerce.pagination import Cursor, Limit, Page
from commerce.promotions.schemas import OfferOut
from commerce.promotions.service import OFFERS_DOC

ONLY = "Only a customer token (`Authorization: Bearer ct_...`) has a `me`: any API key is 403."


class MeController(Controller):
    path = "/v1/me"
    tags = ["Signed-in shopper"]
    guards = [customer_only()]

    @get("/", summary="The signed-in shopper's profile", description=ONLY, responses=problem_responses(401, 403))
    async def profile(self, db: Db, request: Request[Principal, Any, Any]) -> CustomerOut:
        return await service.get_customer(db, me(request.user))

    @get(
        "/cart",
        summary="The shopper's one active cart, created if none",
        description="The same cart on every device the shopper signs in on. `channel` and `currency` are used "
        "only when the cart is created here. " + CART_DESCRIPTION + " " + ONLY,
        response_headers=ETAG,
        responses=problem_responses(401, 403, 422),
    )
    async def cart(
        self,
        db: Db,
        request: Request[Principal, Any, Any],
        channel: NewCartChannel = "web",
        currency: NewCartCurrency = "USD",
    ) -> Response[CartOut]:
        cart_id = await carts.customer_cart(db, me(request.user), channel=channel, currency=currency)
        return await cart_response(db, request, cart_id)

    @post(
        "/cart/merge",
        summary="Merge the cart filled before signing in into the shopper's cart",
        description=MERGE_DOC + " " + ONLY,
        status_code=200,
        response_headers=ETAG,
        responses=problem_responses(401, 403, 404, 409, 422),
    )
    async def merge(self, db: Db, request: Request[Principal, Any, Any], data: JSONBody[MergeIn]) -> Response[CartOut]:
        cart_id = await carts.merge_into_customer_cart(db, me(request.user), data.cart_id, request.user)
        return await cart_response(db, request, cart_id)

    @get(
        "/orders",
        summary="The shopper's purchases on every channel, newest first",
        description="Web, mobile and in-store orders, and till sales and returns that carried the shopper's "
        "loyalty id, in one list. " + ONLY,
        responses=problem_responses(401, 403, 422),
    )
    async def orders(
        self, db: Db, request: Request[Principal, Any, Any], limit: Limit = 50, cursor: Cursor = None
    ) -> Page[Purchase]:
        return await purchase_page(db, me(request.user), limit, cursor)

    @get(
        "/offers",
        summary="The promotions the shopper qualifies for now",
        description=OFFERS_DOC + " " + ONLY,
        responses=problem_responses(401, 403, 422),
    )
    async def offers(
        self, db: Db, request: Request[Principal, Any, Any], limit: Limit = 50, cursor: Cursor = None
    ) -> Page[OfferOut]:
        return await customer_offers(db, me(request.user), limit, cursor)
