from __future__ import annotations

import uuid
from typing import Annotated, Literal, get_args

import msgspec

Role = Literal["admin", "storefront", "pos", "associate", "ads", "integration"]
ROLES: tuple[str, ...] = get_args(Role)
StoreCode = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")]


class ApiKeyIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    role: Role
    store: StoreCode | None = None


class ApiKeyOut(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    role: Role
    store: str | None
    key: Annotated[str, msgspec.Meta(description="The secret. Shown only once: store it now.")]


class Principal(msgspec.Struct, frozen=True):
    """Who is calling: the key's id (None for the environment admin token), role and bound store."""

    key_id: str
    role: str
    store: str | None = None
