"""Who may call what: authentication middleware, role guards and the store-binding check."""

from __future__ import annotations

import uuid
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from sqlalchemy.ext.asyncio import AsyncEngine

from commerce.auth.schemas import CUSTOMER, Principal
from commerce.auth.service import STORE_BOUND_ROLES, KeyResolver
from commerce.errors import Forbidden, NotFound, Unauthorized


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
            raise Unauthorized("Unknown, expired or revoked API key or customer token.")
        return AuthenticationResult(user=principal, auth=token)


class RoleGuard:
    """A guard admitting only `roles`; the OpenAPI document reads `roles` to say who may call.

    `__call__` is a coroutine although it awaits nothing: the framework runs a plain function guard in a
    worker thread, a hop on every request for a set lookup."""

    def __init__(self, roles: frozenset[str]) -> None:
        self.roles = roles

    async def __call__(self, connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        if connection.scope.get("method") == "OPTIONS":
            return  # CORS preflight and OPTIONS carry no key and change nothing
        principal: Principal = connection.user
        if principal.role not in self.roles:
            raise Forbidden(f"{principal.credential} may not call this endpoint.")


def allow(*roles: str) -> RoleGuard:
    """A guard admitting only the given roles (admin is always admitted)."""
    return RoleGuard(frozenset(roles) | {"admin"})


def customer_only() -> RoleGuard:
    """For `/v1/me/...`: only a customer token has a `me`."""
    return RoleGuard(frozenset({CUSTOMER}))


def ensure_self(principal: Principal, customer_id: uuid.UUID) -> None:
    """A customer token reaches its own customer only; another customer is 404, as if it did not exist."""
    if principal.role == CUSTOMER and principal.customer_id != customer_id:
        raise NotFound(f"No customer with id {customer_id}.")


def ensure_reach(principal: Principal, owner: uuid.UUID | None, not_found: str) -> None:
    """A customer token reaches a cart or order of its own customer, or an anonymous one whose id it holds
    (as the public storefront key would); another customer's is 404, as if it did not exist."""
    if principal.role == CUSTOMER and owner is not None and owner != principal.customer_id:
        raise NotFound(not_found)


def me(principal: Principal) -> uuid.UUID:
    """The customer a customer token acts for."""
    if principal.customer_id is None:  # customer_only() lets only customer tokens through
        raise Forbidden("Only a customer token has a `/v1/me`.")
    return principal.customer_id


def ensure_store(principal: Principal, store: str) -> None:
    """A pos or associate key acts on its own store only."""
    if principal.role in STORE_BOUND_ROLES and principal.store != store:
        raise Forbidden(f"This {principal.role} key is bound to store {principal.store!r}, not {store!r}.")
