from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal, get_args

import msgspec

from commerce.schemas import Id

Role = Literal["admin", "storefront", "pos", "associate", "ads", "integration"]
ROLES: tuple[str, ...] = get_args(Role)
# Who may call: an API key's role, or `customer` for a customer token (never a key's role).
CallerRole = Literal[Role, "customer"]
CUSTOMER: CallerRole = "customer"
# Customer tokens start with this, API keys with `ck_`: the resolver knows where to look.
CUSTOMER_TOKEN_PREFIX = "ct_"
MAX_TOKEN_TTL_MINUTES = 43200
StoreCode = Id


class ApiKeyIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    role: Role
    store: StoreCode | None = None


class ApiKeyOut(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    role: Role
    store: str | None
    key: Annotated[str, msgspec.Meta(description="The secret. Shown only once: store it now.")]


class CustomerTokenIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    ttl_minutes: Annotated[
        int, msgspec.Meta(ge=1, le=MAX_TOKEN_TTL_MINUTES, description="Lifetime in minutes (default a day, at most 30)")
    ] = 1440


class CustomerTokenOut(msgspec.Struct, frozen=True, kw_only=True):
    token: Annotated[
        str, msgspec.Meta(description="The secret, `ct_...`. Shown only once: hand it to the signed-in shopper's app.")
    ]
    customer_id: uuid.UUID
    expires_at: datetime


class Principal(msgspec.Struct, frozen=True):
    """Who is calling: the key's (or customer token's) id, role, bound store, and for a customer token
    the customer it acts for."""

    key_id: str
    role: str
    store: str | None = None
    customer_id: uuid.UUID | None = None

    @property
    def credential(self) -> str:
        """How an error message names the caller: "A customer token", "An admin key", "A pos key"."""
        if self.role == CUSTOMER:
            return "A customer token"
        return f"{'An' if self.role[0] in 'aeiou' else 'A'} {self.role} key"

    @property
    def source(self) -> str:
        """How ledgers and logs name who made a change: `role:key id`."""
        return f"{self.role}:{self.key_id}"
