"""Who may call what: authentication middleware, role guards and the store-binding check."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from sqlalchemy.ext.asyncio import AsyncEngine

from commerce.auth.schemas import Principal
from commerce.auth.service import STORE_BOUND_ROLES, KeyResolver
from commerce.errors import Forbidden, Unauthorized

Guard = Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], None]


class ApiKeyMiddleware(AbstractAuthenticationMiddleware):
    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        header = connection.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("Send an API key as `Authorization: Bearer <key>`.")
        resolver: KeyResolver = connection.app.state.key_resolver
        engine: AsyncEngine = connection.app.state.engine
        principal = await resolver.resolve(engine, token.strip())
        if principal is None:
            raise Unauthorized("Unknown or revoked API key.")
        return AuthenticationResult(user=principal, auth=token)


def allow(*roles: str) -> Guard:
    """A guard admitting only the given roles (admin is always admitted)."""
    allowed = frozenset(roles) | {"admin"}

    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        if connection.scope.get("method") == "OPTIONS":
            return  # CORS preflight and OPTIONS carry no key and change nothing
        principal: Principal = connection.user
        if principal.role not in allowed:
            raise Forbidden(f"A {principal.role} key may not call this endpoint.")

    return guard


def ensure_store(principal: Principal, store: str) -> None:
    """A pos or associate key acts on its own store only."""
    if principal.role in STORE_BOUND_ROLES and principal.store != store:
        raise Forbidden(f"This {principal.role} key is bound to store {principal.store!r}, not {store!r}.")
