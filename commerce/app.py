"""The Litestar application: routes, dependencies, auth, the exception map and the lifespan."""

from __future__ import annotations

import gc
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
from litestar import Litestar, Request, Response, get
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.logging import LoggingConfig
from litestar.middleware.base import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from sqlalchemy import text

from commerce import __version__
from commerce.ads.routes import AdClickController, ExportController, ReportController
from commerce.auth.guards import ApiKeyMiddleware
from commerce.auth.listener import revocation_listener
from commerce.auth.routes import ApiKeyController, CustomerTokenController
from commerce.auth.service import KeyResolver
from commerce.carts.routes import CartController, CustomerCartController
from commerce.catalog.routes import ImportController, ProductController, VariantController
from commerce.customers import rules as customer_rules
from commerce.customers.me import MeController
from commerce.customers.routes import CustomerController
from commerce.db import make_engine, make_read_pool, make_sessionmaker, provide_db, provide_reader
from commerce.decoding import StrictRequest, check_query_spelling, needs_body
from commerce.errors import NotFound, Unprocessable, exception_handlers
from commerce.events.routes import EventController, WebhookController
from commerce.events.workers import event_workers
from commerce.feeds.routes import FeedController
from commerce.inventory.routes import AvailabilityController, InventoryController, LookupController
from commerce.notify import notifications
from commerce.observability.setup import Observability
from commerce.openapi import API_KEY, CUSTOMER_TOKEN, finish_openapi
from commerce.orders.batching import CheckoutBatcher, default_limit
from commerce.orders.routes import OrderController, OrderImportController
from commerce.orders.sweeper import expiry_sweeper
from commerce.pages import openapi_render_plugins, static_routers, template_config
from commerce.pages.labels import LabelController
from commerce.pages.routes import PageController
from commerce.pos.routes import PosController
from commerce.promotions.routes import PromotionController
from commerce.replica import Replica
from commerce.retention import retention_sweeper
from commerce.segments.routes import CustomerProfileController, SegmentController
from commerce.segments.workers import segment_worker
from commerce.settings import Settings
from commerce.stores.routes import StoreController

log = logging.getLogger("commerce")

DESCRIPTION = """
One catalog, price and promotion database, per-store inventory, carts and orders for every channel.

**Authentication**: send `Authorization: Bearer <credential>`, an API key or a customer token; each
operation names the ones it takes and the roles it admits. Missing, unknown, expired or revoked: 401; a
role or store that may not: 403.

- API keys (`ck_...`, `POST /v1/api-keys`): roles `admin`, `storefront`, `pos`, `associate`, `ads`,
  `integration`. `pos` and `associate` keys act on their own store only.
- A `storefront` key is public: it ships inside web and mobile apps. It reads the catalog, stores and
  availability, creates anonymous carts and works on a cart or order whose id it holds; it never finds
  or reads a customer.
- A customer token (`ct_...`) is a signed-in shopper's: the retailer's sign-in service mints it with an
  admin key (`POST /v1/customers/{id}/tokens`) and hands it to the shopper's app. It acts as role
  `customer` for that one customer (`/v1/me/...`, their carts, orders, history and offers) plus every
  public read; another customer's cart, order or history is 404.

**Errors** are RFC 9457 `application/problem+json` with a stable machine `code`.

**Money** is always `{"amount": <integer minor units>, "currency": "USD"}`.

**Lists** take `limit` (default 50, max 500) and `cursor`, and answer `{"items": [...], "next_cursor": ...}`.
"""


class Health(msgspec.Struct, frozen=True):
    status: str
    database: str
    version: str


# A JSON \u0000 escape not itself escaped (odd run of backslashes), or a %00 in the query string.
_NUL_IN_JSON = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


def allowed_methods(request: Request[Any, Any, Any]) -> Response[None]:
    """An OPTIONS answer whose `Allow` lists every method of the resource.

    The framework's own OPTIONS handler reports the methods of the first handlers registered for
    the path (`GET, OPTIONS` for a store, which also takes PUT); a 405 already lists them all.
    """
    template = request.scope.get("path_template")
    methods = sorted({m for route in request.app.routes if route.path_format == template for m in route.methods})
    return Response(None, status_code=204, headers={"Allow": ", ".join(methods)})


async def screen_request(request: Request[Any, Any, Any]) -> Response[None] | None:
    """Refuse at the door what would fail deep inside: NUL characters in the path, the query or a body
    (PostgreSQL text cannot hold them) and query parameters spelled as another type than declared (commerce/decoding.py)."""
    if request.method == "OPTIONS" and "access-control-request-method" not in request.headers:
        return allowed_methods(request)
    if "\x00" in request.scope["path"]:
        raise NotFound("No resource has a NUL (%00) character in its path.")
    if b"%00" in request.scope.get("query_string", b""):
        raise Unprocessable("Query parameters may not contain NUL (%00) characters.")
    if request.method in ("POST", "PUT", "PATCH"):
        body = await request.body()
        if _NUL_IN_JSON.search(body):
            raise Unprocessable("Text fields may not contain NUL (\\u0000) characters.")
        if not body.strip() and needs_body(request.route_handler):
            raise Unprocessable("The body is empty: this request takes a JSON body (see the API docs at /schema).")
    check_query_spelling(request)
    return None


def settle_heap() -> None:
    """Move what startup built (framework, ORM, OpenAPI schema: most of the heap) out of the garbage
    collector's reach. Full collections walked all of it and paused requests for 70-110 ms (the
    listing's p99 at light load); now they walk only what requests create."""
    gc.collect()
    gc.freeze()


def checkout_batcher(settings: Settings) -> CheckoutBatcher:
    """The worker's checkout transactions (commerce/orders/batching.py), on a pool of their own: one
    connection per transaction in flight, its statements planned once per connection (generic plans:
    they look rows up by key and by arrays, and planning them on every execution cost PostgreSQL more
    than running them at small batches, benchmarks/NOTES.md)."""
    assert settings.database_url
    limit = default_limit(settings.db_pool_size) if settings.db_admission_limit is None else settings.db_admission_limit
    engine = make_engine(
        settings.database_url,
        pool_size=limit or settings.db_pool_size,
        max_overflow=0 if limit else settings.db_max_overflow,
        transaction_pooler=settings.db_transaction_pooler,
        plan_cache_mode="force_generic_plan",
    )
    return CheckoutBatcher(
        engine,
        settings,
        limit=limit,
        batch_max=settings.checkout_batch_max,
        max_wait=settings.db_admission_wait_seconds,
    )


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or Settings.from_env()
    if not settings.database_url:
        raise RuntimeError("DATABASE_URL is not set: run `commerce serve`, which starts an embedded PostgreSQL.")
    database_url = settings.database_url
    customer_rules.set_default_phone_region(settings.default_phone_region)
    observability = Observability(settings)

    @asynccontextmanager
    async def database(app: Litestar) -> AsyncIterator[None]:
        engine = make_engine(
            database_url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            transaction_pooler=settings.db_transaction_pooler,
        )
        app.state.engine = engine
        app.state.sessionmaker = make_sessionmaker(engine)
        app.state.checkouts = checkout_batcher(settings)
        app.state.checkout_engine = app.state.checkouts.engine
        app.state.read_pool = await make_read_pool(
            database_url, settings.db_read_pool_size, transaction_pooler=settings.db_transaction_pooler
        )
        app.state.replica = (
            await Replica.connect(settings.database_read_url, settings.db_read_pool_size)
            if settings.database_read_url
            else None
        )
        app.state.key_resolver = KeyResolver(settings.admin_token, settings.auth_cache_seconds)
        app.state.settings = settings
        settle_heap()
        try:
            yield
        finally:
            if app.state.replica is not None:
                await app.state.replica.close()
            await app.state.read_pool.close()
            await app.state.checkouts.drain()
            await app.state.checkout_engine.dispose()
            await engine.dispose()

    @get(
        "/health/live",
        tags=["Service"],
        summary="Liveness: the process answers (no database call)",
        exclude_from_auth=True,
    )
    async def liveness() -> Health:
        return Health(status="ok", database="not checked", version=__version__)

    @get("/health", tags=["Service"], summary="Readiness: the process and its database answer", exclude_from_auth=True)
    async def health_check(state: State) -> Health:
        async with state.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return Health(status="ok", database="ok", version=__version__)

    app = Litestar(
        route_handlers=[
            health_check,
            liveness,
            *observability.route_handlers,
            ApiKeyController,
            StoreController,
            ProductController,
            VariantController,
            ImportController,
            OrderController,
            OrderImportController,
            PromotionController,
            CustomerController,
            CustomerTokenController,
            MeController,
            SegmentController,
            AdClickController,
            ExportController,
            ReportController,
            CustomerProfileController,
            CartController,
            CustomerCartController,
            InventoryController,
            AvailabilityController,
            LookupController,
            PosController,
            EventController,
            WebhookController,
            FeedController,
            # --- public pages, shelf labels, the associates' console, static assets (commerce/pages) ---
            PageController,
            LabelController,
            *static_routers(),
        ],
        template_config=template_config(),
        dependencies={"db": Provide(provide_db), "reader": Provide(provide_reader)},
        before_request=screen_request,
        request_class=StrictRequest,
        middleware=[
            *observability.middleware,
            DefineMiddleware(ApiKeyMiddleware, exclude=["^/schema", "^/health(/live)?$", "^/metrics$"]),
        ],
        plugins=observability.plugins,
        exception_handlers=exception_handlers,
        lifespan=[
            database,
            observability.lifespan,
            notifications,
            revocation_listener,
            *(
                [expiry_sweeper, event_workers, retention_sweeper, segment_worker]
                if settings.background_workers
                else []
            ),
        ],
        cors_config=CORSConfig(
            allow_origins=["*"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "If-Match", "X-Request-Id"],
            expose_headers=["ETag", "X-Request-Id"],
        ),
        openapi_config=OpenAPIConfig(
            title="Commerce API",
            version=__version__,
            description=DESCRIPTION,
            path="/schema",
            render_plugins=openapi_render_plugins(),
            components=Components(
                security_schemes={
                    API_KEY: SecurityScheme(
                        type="http",
                        scheme="bearer",
                        bearer_format="ck_<role>_<random>",
                        description="An API key (`POST /v1/api-keys`), shown once when issued.",
                    ),
                    CUSTOMER_TOKEN: SecurityScheme(
                        type="http",
                        scheme="bearer",
                        bearer_format="ct_<random>",
                        description="A signed-in shopper's customer token (`POST /v1/customers/{id}/tokens`, "
                        "minted by the retailer's sign-in service with an admin key). Acts for that one customer "
                        "until it expires or is revoked.",
                    ),
                }
            ),
            security=[{API_KEY: []}, {CUSTOMER_TOKEN: []}],
        ),
        logging_config=LoggingConfig(
            root={"level": settings.log_level, "handlers": ["queue_listener"]},
            formatters=observability.logging_formatters(),
            log_exceptions="debug",
        ),
        debug=False,
    )
    finish_openapi(app)
    return app
