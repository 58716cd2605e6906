from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from commerce.money import Money

PosEventType = Literal["sale", "return", "count", "receipt"]
PosResultStatus = Literal["applied", "duplicate", "rejected"]
MAX_BATCH = 1000

EventId = Annotated[str, msgspec.Meta(min_length=1, max_length=100, description="The till's own id for the event")]
Sku = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class PosLineIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    sku: Sku
    quantity: Annotated[
        int, msgspec.Meta(description="Units sold, returned or received (>= 1); for a count, the units counted (>= 0)")
    ]
    unit_price: Money | None = None


class PosCustomerIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Who bought: any of the shopper's identifiers, normalised as customers' are (email trimmed and
    lowercased, phone in E.164 by `phonenumbers`, a number without a country code read as one of
    `COMMERCE_DEFAULT_PHONE_REGION`). A sale or return is linked to the customer holding the loyalty id,
    else the email, else the phone; one holding none of them is created with all of them. Each identifier
    is checked on its own, as `POST /v1/customers` checks it: one that is not valid is left out (the
    others still link the event) and never stops the event."""

    email: Annotated[str, msgspec.Meta(description="As a customer's `email`")] | None = None
    phone: Annotated[str, msgspec.Meta(description="As a customer's `phone`")] | None = None
    loyalty_id: Annotated[str, msgspec.Meta(description="As a customer's `loyalty_id`")] | None = None


class PosEventIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    event_id: EventId
    type: PosEventType
    occurred_at: Annotated[datetime, msgspec.Meta(description="RFC 3339 with offset, the till's time of the event")]
    terminal_id: Annotated[str, msgspec.Meta(min_length=1, max_length=100)] | None = None
    loyalty_id: (
        Annotated[str, msgspec.Meta(min_length=1, max_length=100, description="Same as `customer.loyalty_id`")] | None
    ) = None
    customer: PosCustomerIn | None = None
    lines: list[PosLineIn]


class PosBatchIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    # Each event is checked on its own (see PosEventIn), so one malformed event is rejected
    # in the results instead of failing the whole batch.
    events: Annotated[
        list[Any],
        msgspec.Meta(
            min_length=1,
            max_length=MAX_BATCH,
            description="1 to 1,000 events, each {event_id, type: sale|return|count|receipt, occurred_at, "
            "terminal_id?, loyalty_id?, customer?: {email?, phone?, loyalty_id?}, "
            "lines: [{sku, quantity, unit_price?: {amount, currency}}]}. A sale or return with customer "
            "identifiers (`customer`, and `loyalty_id`, the same as `customer.loyalty_id`) joins that customer's "
            "purchase history, segments and ad conversions: the customer holding the loyalty id, else the email, "
            "else the phone (normalised as customers' are), or a new customer holding them all. An identifier "
            "that is not valid never stops its event: see PosEventResult.",
        ),
    ]


class PosEventResult(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """What became of one event. `rejected` always has `code` and `detail`. An `applied` sale or return
    whose shopper's identifiers were not all usable (not valid as a customer's, `loyalty_id` and
    `customer.loyalty_id` differing, or a `customer` that is not an object of those string fields, left
    out whole) has them too: `customer_identifier_ignored` (linked to the customer
    by the remaining identifiers) or `customer_not_linked` (no identifier left: applied without a
    customer); `detail` names each identifier left out and why. Its stock moved all the same; sending it
    again is a `duplicate`, so a till links the customer later by updating the customer, not by resending."""

    event_id: str | None
    status: PosResultStatus
    code: Annotated[
        str | None,
        msgspec.Meta(
            description="With `rejected`: why. With `applied`: `customer_identifier_ignored` or `customer_not_linked`"
        ),
    ] = None
    detail: str | None = None


class PosBatchResult(msgspec.Struct, frozen=True, kw_only=True):
    results: Annotated[list[PosEventResult], msgspec.Meta(description="One per event, in the order sent")]


class PosLineOut(msgspec.Struct, frozen=True, kw_only=True):
    sku: str
    quantity: int
    unit_price: Money | None


class PosPurchase(msgspec.Struct, frozen=True, kw_only=True):
    """A sale or return rung up at a till for a known customer (their purchase history)."""

    event_id: str
    store: str
    occurred_at: datetime
    type: PosEventType
    lines: list[PosLineOut]
    total: Money | None
