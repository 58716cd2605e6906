from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from commerce.catalog.schemas import Sku
from commerce.money import Currency
from commerce.promotions.rules import PromotionKind
from commerce.schemas import Id

Channel = Literal["web", "mobile", "store", "kiosk", "call_center"]
"""Where a cart is used: the fixed set of sales channels."""

PromotionCode = Annotated[
    str,
    msgspec.Meta(
        min_length=3,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_\-]*$",
        description="Coupon code; case-insensitive and unique among promotions",
    ),
]
Category = Annotated[str, msgspec.Meta(min_length=1, max_length=120)]
SegmentId = Id
Limit = Annotated[int, msgspec.Meta(ge=1, le=1_000_000_000)]


class AppliesTo(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    skus: Annotated[list[Sku], msgspec.Meta(max_length=10_000)] | None = None
    categories: Annotated[list[Category], msgspec.Meta(max_length=1_000)] | None = None


class GuardrailOverride(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    reason: Annotated[str, msgspec.Meta(min_length=3, max_length=2_000)]


class PromotionIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=300)]
    kind: PromotionKind
    value: Annotated[
        int,
        msgspec.Meta(
            ge=1,
            le=10**12,
            description="percent_off: whole percent 1..100. amount_off: integer minor units off each unit, "
            "in `currency`",
        ),
    ]
    currency: Annotated[
        Currency | None, msgspec.Meta(description="Required for amount_off, absent for percent_off")
    ] = None
    applies_to: Annotated[AppliesTo | None, msgspec.Meta(description="SKUs and/or categories; absent: everything")] = (
        None
    )
    code: PromotionCode | None = None
    channels: Annotated[list[Channel], msgspec.Meta(min_length=1, description="Absent: every channel")] | None = None
    starts_at: Annotated[datetime, msgspec.Meta(tz=True)] | None = None
    ends_at: Annotated[datetime, msgspec.Meta(tz=True, description="Exclusive; after starts_at")] | None = None
    priority: Annotated[int, msgspec.Meta(ge=-1_000_000, le=1_000_000)] = 0
    override_guardrail: GuardrailOverride | None = None
    segments: (
        Annotated[
            list[SegmentId],
            msgspec.Meta(
                min_length=1,
                max_length=100,
                description="Only customers in one of these segments qualify; an anonymous cart never does. "
                "Absent: everyone",
            ),
        ]
        | None
    ) = None
    per_customer_limit: (
        Annotated[Limit, msgspec.Meta(description="Orders per customer it may price; anonymous carts never qualify")]
        | None
    ) = None
    total_limit: Annotated[Limit, msgspec.Meta(description="Orders in all it may price")] | None = None


class OverrideOut(msgspec.Struct, frozen=True):
    reason: str
    by: str
    at: datetime


class PromotionOut(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    title: str
    kind: PromotionKind
    value: int
    currency: str | None
    applies_to: AppliesTo | None
    code: str | None
    channels: list[str] | None
    starts_at: datetime | None
    ends_at: datetime | None
    priority: int
    active: Annotated[bool, msgspec.Meta(description="Not killed and inside its window right now")]
    killed_at: datetime | None
    override_guardrail: OverrideOut | None
    segments: list[str] | None
    per_customer_limit: int | None
    total_limit: int | None
    redemptions: Annotated[
        int, msgspec.Meta(description="Orders counted against `total_limit` (cancelled and expired ones given back)")
    ]
    single_use_codes: Annotated[
        bool, msgspec.Meta(description="It has single-use codes: it prices only carts carrying one of them")
    ]
    created_at: datetime
    updated_at: datetime


class CodesIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    count: Annotated[int, msgspec.Meta(ge=1, le=10_000)]
    prefix: (
        Annotated[
            str,
            msgspec.Meta(min_length=1, max_length=20, pattern=r"^[A-Za-z0-9][A-Za-z0-9_\-]*$", description="e.g. JOIN"),
        ]
        | None
    ) = None


class CodesOut(msgspec.Struct, frozen=True, kw_only=True):
    promotion_id: str
    codes: Annotated[list[str], msgspec.Meta(description="Each redeemable once in all; shown only here")]


class OfferOut(msgspec.Struct, frozen=True, kw_only=True):
    """A promotion as a shopper sees it: what it takes off, on what, where and until when."""

    id: str
    title: str
    kind: PromotionKind
    value: Annotated[int, msgspec.Meta(description="percent_off: whole percent; amount_off: minor units off each unit")]
    currency: str | None
    applies_to: Annotated[AppliesTo | None, msgspec.Meta(description="Absent: everything")]
    channels: Annotated[list[str] | None, msgspec.Meta(description="Absent: every channel")]
    starts_at: datetime | None
    ends_at: datetime | None
    priority: int
    segments: Annotated[
        list[str] | None, msgspec.Meta(description="The customer's segments it targets (absent: it targets everyone)")
    ]
    remaining: Annotated[
        int | None,
        msgspec.Meta(description="Orders this customer may still use it on (absent: no per-customer limit)"),
    ]
