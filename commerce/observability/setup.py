"""What the app needs from this package, in one place: middleware, plugins, routes, logging, lifespan."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from litestar import Litestar
from litestar.plugins import PluginProtocol
from litestar.types import ControllerRouterHandler, Middleware
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from commerce.observability.logs import RequestIdMiddleware, install_record_factory
from commerce.observability.metrics import POOL_IN_USE, metrics, process_exited, prometheus_config
from commerce.observability.tracing import start_tracing
from commerce.settings import Settings


class Observability:
    def __init__(self, settings: Settings) -> None:
        if settings.log_format not in ("text", "json"):
            raise ValueError(f"COMMERCE_LOG_FORMAT must be text or json, not {settings.log_format!r}")
        install_record_factory()
        self.json_logs = settings.log_format == "json"
        self.tracing = start_tracing(settings.otel_endpoint)

    @property
    def middleware(self) -> list[Middleware]:
        """Outermost first: requests are counted and carry their id even when auth refuses them."""
        return [prometheus_config.middleware, RequestIdMiddleware(access_lines=self.json_logs)]

    @property
    def plugins(self) -> list[PluginProtocol]:
        return [self.tracing.plugin()] if self.tracing else []

    @property
    def route_handlers(self) -> list[ControllerRouterHandler]:
        return [metrics]

    def logging_formatters(self) -> dict[str, dict[str, Any]]:
        if self.json_logs:
            return {"standard": {"()": "commerce.observability.logs.JsonFormatter"}}
        return {"standard": {"format": "%(levelname)s - %(asctime)s - %(name)s - %(module)s - %(message)s"}}

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Litestar) -> AsyncIterator[None]:
        """Runs inside the database lifespan: counts the engines' connections in use while the app runs."""
        count_connections_in_use(app.state.engine, "primary")
        count_connections_in_use(app.state.checkout_engine, "checkout")
        try:
            yield
        finally:
            process_exited()
            if self.tracing:
                self.tracing.shutdown()


def count_connections_in_use(engine: AsyncEngine, pool: str) -> None:
    in_use = POOL_IN_USE.labels(pool)
    # SQLAlchemy pairs every checkout with a checkin (an invalidated connection is checked in too).
    event.listen(engine.sync_engine, "checkout", lambda *_: in_use.inc())
    event.listen(engine.sync_engine, "checkin", lambda *_: in_use.dec())


__all__ = ["Observability"]
