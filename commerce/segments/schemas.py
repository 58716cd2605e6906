from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from commerce.money import Money
from commerce.schemas import Id
from commerce.segments.rules import FACTS, OPS

SegmentId = Id


class RuleIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    fact: Annotated[str, msgspec.Meta(description=f"One of: {', '.join(FACTS)}")]
    op: Annotated[str, msgspec.Meta(description=f"One of: {', '.join(OPS)}")]
    value: Annotated[
        Any,
        msgspec.Meta(
            description="A whole number (orders_count, days_since_last_order), money `{amount, currency}` "
            "(lifetime_value), a string (bought_sku, bought_category, channel_used, store_visited), true or "
            "false (email_consent, sms_consent); with `in`, a list"
        ),
    ]


class SegmentIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=300)]
    rules: Annotated[list[RuleIn], msgspec.Meta(max_length=50, description="All must hold")]


class SegmentOut(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    title: str
    rules: list[dict[str, Any]]
    version: Annotated[int, msgspec.Meta(description="Bumped whenever the rules change")]
    status: Annotated[
        Literal["backfilling", "ready"],
        msgspec.Meta(description="`backfilling` while existing customers are being sorted into it after a change"),
    ]
    members: int
    created_at: datetime
    updated_at: datetime


class MemberOut(msgspec.Struct, frozen=True, kw_only=True):
    customer_id: uuid.UUID
    since: datetime


class StoreVisit(msgspec.Struct, frozen=True, kw_only=True):
    store: str
    at: datetime


class ProfileOut(msgspec.Struct, frozen=True, kw_only=True):
    customer_id: uuid.UUID
    orders_count: Annotated[int, msgspec.Meta(description="Orders on every channel and till sales")]
    lifetime_value: Annotated[Money, msgspec.Meta(description="Spend net of returns in the customer's main currency")]
    lifetime_values: Annotated[list[Money], msgspec.Meta(description="Spend per currency")]
    first_order_at: datetime | None
    last_order_at: datetime | None
    channels: Annotated[dict[str, int], msgspec.Meta(description="Orders per channel (`store`: till sales)")]
    favorite_store: Annotated[str | None, msgspec.Meta(description="The store visited most")]
    last_store_visit: StoreVisit | None
    segments: list[str]
    updated_at: datetime | None
