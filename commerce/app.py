"""The Litestar application: routes, dependencies, auth, the exception map and the lifespan."""

from __future__ import annotations

import gc
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
from litestar import Litestar, Request, get
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.logging import LoggingConfig
from litestar.middleware.base import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from sqlalchemy import text

from commerce import __version__
from commerce.auth.guards import ApiKeyMiddleware
from commerce.auth.routes import ApiKeyController
from commerce.auth.service import KeyResolver
from commerce.carts.routes import CartController, CustomerCartController
from commerce.catalog.routes import ImportController, ProductController, VariantController
from commerce.customers.routes import CustomerController
from commerce.db import make_engine, make_read_pool, make_sessionmaker, provide_db, provide_reader
from commerce.errors import Unprocessable, exception_handlers
from commerce.events.routes import EventController, WebhookController
from commerce.events.workers import event_workers
from commerce.feeds.routes import FeedController
from commerce.inventory.routes import AvailabilityController, InventoryController, LookupController
from commerce.openapi import finish_openapi
from commerce.orders.routes import OrderController, OrderImportController
from commerce.orders.sweeper import expiry_sweeper
from commerce.pos.routes import PosController
from commerce.promotions.routes import PromotionController
from commerce.retention import retention_sweeper
from commerce.settings import Settings
from commerce.stores.routes import StoreController

log = logging.getLogger("commerce")

DESCRIPTION = """
One catalog, price and promotion database, per-store inventory, carts and orders for every channel.

**Authentication**: send `Authorization: Bearer <api key>`. Roles: `admin`, `storefront`, `pos`,
`associate`, `ads`; `pos` and `associate` keys act on their own store only.

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


async def reject_nul_characters(request: Request[Any, Any, Any]) -> None:
    """PostgreSQL text cannot hold NUL; refuse it at the door with a 422 instead of failing deep inside."""
    if b"%00" in request.scope.get("query_string", b""):
        raise Unprocessable("Query parameters may not contain NUL (%00) characters.")
    if request.method in ("POST", "PUT", "PATCH") and _NUL_IN_JSON.search(await request.body()):
        raise Unprocessable("Text fields may not contain NUL (\\u0000) characters.")


def settle_heap() -> None:
    """Move what startup built (framework, ORM, OpenAPI schema: most of the heap) out of the garbage
    collector's reach. Full collections walked all of it and paused requests for 70-110 ms (the
    listing's p99 at light load); now they walk only what requests create."""
    gc.collect()
    gc.freeze()


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or Settings.from_env()
    if not settings.database_url:
        raise RuntimeError("DATABASE_URL is not set: run `commerce serve`, which starts an embedded PostgreSQL.")
    database_url = settings.database_url

    @asynccontextmanager
    async def database(app: Litestar) -> AsyncIterator[None]:
        engine = make_engine(database_url, pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow)
        app.state.engine = engine
        app.state.sessionmaker = make_sessionmaker(engine)
        app.state.read_pool = await make_read_pool(database_url, settings.db_read_pool_size)
        app.state.key_resolver = KeyResolver(settings.admin_token, settings.auth_cache_seconds)
        app.state.settings = settings
        settle_heap()
        try:
            yield
        finally:
            await app.state.read_pool.close()
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
            ApiKeyController,
            StoreController,
            ProductController,
            VariantController,
            ImportController,
            OrderController,
            OrderImportController,
            PromotionController,
            CustomerController,
            CartController,
            CustomerCartController,
            InventoryController,
            AvailabilityController,
            LookupController,
            PosController,
            EventController,
            WebhookController,
            FeedController,
        ],
        dependencies={"db": Provide(provide_db), "reader": Provide(provide_reader)},
        before_request=reject_nul_characters,
        middleware=[DefineMiddleware(ApiKeyMiddleware, exclude=["^/schema", "^/health(/live)?$"])],
        exception_handlers=exception_handlers,
        lifespan=[
            database,
            *([expiry_sweeper, event_workers, retention_sweeper] if settings.background_workers else []),
        ],
        cors_config=CORSConfig(
            allow_origins=["*"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "If-Match"],
            expose_headers=["ETag"],
        ),
        openapi_config=OpenAPIConfig(
            title="Commerce API",
            version=__version__,
            description=DESCRIPTION,
            path="/schema",
            render_plugins=[ScalarRenderPlugin(), SwaggerRenderPlugin(path="/swagger")],
            components=Components(
                security_schemes={"ApiKey": SecurityScheme(type="http", scheme="bearer", description="An API key")}
            ),
            security=[{"ApiKey": []}],
        ),
        logging_config=LoggingConfig(
            root={"level": settings.log_level, "handlers": ["queue_listener"]},
            log_exceptions="debug",
        ),
        debug=False,
    )
    finish_openapi(app)
    return app
