from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec

Email = Annotated[str, msgspec.Meta(min_length=3, max_length=320, pattern=r"^\s*[^@\s]+@[^@\s]+\.[^@\s]+\s*$")]
Phone = Annotated[str, msgspec.Meta(min_length=5, max_length=40, description="Digits; spaces, dashes, `+` allowed")]
LoyaltyId = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^\s*\S+\s*$")]


class ConsentIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Marketing consent per channel. A channel left out stays as it is (false for a new customer)."""

    email: bool | msgspec.UnsetType = msgspec.UNSET
    sms: bool | msgspec.UnsetType = msgspec.UNSET


class CustomerIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    email: Email | None = None
    phone: Phone | None = None
    loyalty_id: LoyaltyId | None = None
    marketing_consent: ConsentIn | None = None


class CustomerPatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Only what is sent changes. `null` removes an identifier (one must remain)."""

    email: Email | msgspec.UnsetType | None = msgspec.UNSET
    phone: Phone | msgspec.UnsetType | None = msgspec.UNSET
    loyalty_id: LoyaltyId | msgspec.UnsetType | None = msgspec.UNSET
    marketing_consent: ConsentIn | msgspec.UnsetType = msgspec.UNSET


class MarketingConsent(msgspec.Struct, frozen=True, kw_only=True):
    email: bool
    sms: bool


class CustomerOut(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    email: str | None
    phone: str | None
    loyalty_id: str | None
    marketing_consent: MarketingConsent
    created_at: datetime
