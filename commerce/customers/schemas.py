from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec

Email = Annotated[str, msgspec.Meta(min_length=3, max_length=320, pattern=r"^\s*[^@\s]+@[^@\s]+\.[^@\s]+\s*$")]
Phone = Annotated[str, msgspec.Meta(min_length=5, max_length=40, description="Digits; spaces, dashes, `+` allowed")]
LoyaltyId = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^\s*\S+\s*$")]


class CustomerIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    email: Email | None = None
    phone: Phone | None = None
    loyalty_id: LoyaltyId | None = None


class CustomerOut(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    email: str | None
    phone: str | None
    loyalty_id: str | None
    created_at: datetime
