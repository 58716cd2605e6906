from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, get_args

import msgspec

from commerce.schemas import Id

EventType = Literal[
    "inventory.changed",
    "order.placed",
    "order.ready_for_pickup",
    "order.collected",
    "order.cancelled",
    "order.expired",
    "order.shipped",
    "order.backordered",
    "product.changed",
    "promotion.changed",
]
EVENT_TYPES: frozenset[str] = frozenset(get_args(EventType))

WebhookId = Id


class Event(msgspec.Struct, frozen=True):
    """One feed entry; also the exact JSON body of a webhook delivery."""

    seq: int
    type: str
    occurred_at: datetime
    data: dict[str, Any]


class EventPage(msgspec.Struct, frozen=True):
    items: list[Event]
    next_after: Annotated[int, msgspec.Meta(description="Pass as `after` for the next page")]


class WebhookIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    url: Annotated[str, msgspec.Meta(min_length=1, max_length=2000, description="http:// or https:// URL")]
    types: Annotated[list[EventType], msgspec.Meta(min_length=1, max_length=len(EVENT_TYPES))]
    secret: Annotated[
        str, msgspec.Meta(min_length=16, max_length=256, description="Signs every delivery; never shown again")
    ]


class WebhookOut(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    url: str
    types: list[str]
    last_delivered_seq: Annotated[int, msgspec.Meta(description="Every event up to this seq has been delivered")]
    failed_attempts: Annotated[int, msgspec.Meta(description="Failed attempts on the next event to deliver")]
    next_attempt_at: datetime
    created_at: datetime
    updated_at: datetime


class DeliveryOut(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    seq: int
    attempt: int
    status_code: int | None
    error: str | None
    duration_ms: int
    at: datetime
    next_attempt_at: Annotated[datetime | None, msgspec.Meta(description="When it is retried (failed attempts)")]
