from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

import msgspec

from commerce.ads.rules import ClickIdType, Network
from commerce.money import Money

ExportFormat = Literal["google_csv", "meta_ndjson", "ndjson"]


class AdClickIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    network: Annotated[Network, msgspec.Meta(description="The ad network the click came from")]
    click_id: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            max_length=512,
            description="The click id from the landing URL: `gclid`, `gbraid` or `wbraid` (google), `fbclid` (meta)",
        ),
    ]
    clicked_at: Annotated[datetime, msgspec.Meta(description="RFC 3339 with offset; not in the future")]
    click_id_type: Annotated[
        ClickIdType | None,
        msgspec.Meta(description="Which URL parameter `click_id` came from; default gclid (google), fbclid (meta)"),
    ] = None
    campaign: Annotated[str, msgspec.Meta(min_length=1, max_length=255)] | None = None
    cart_id: (
        Annotated[
            str,
            msgspec.Meta(
                min_length=1,
                max_length=64,
                description="An anonymous shopper's cart: the click joins the customer the cart comes to belong to",
            ),
        ]
        | None
    ) = None
    customer_id: Annotated[
        uuid.UUID | None, msgspec.Meta(description="Admin keys only: the customer the click belongs to")
    ] = None


class AdClickOut(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    network: Network
    click_id: str
    click_id_type: ClickIdType
    clicked_at: datetime
    campaign: str | None
    cart_id: str | None
    customer_id: Annotated[
        uuid.UUID | None, msgspec.Meta(description="Known once the token, or the cart's owner, says who clicked")
    ]
    created_at: datetime


class ClickRef(msgspec.Struct, frozen=True, kw_only=True):
    network: Network
    click_id: str
    click_id_type: ClickIdType
    clicked_at: datetime
    campaign: str | None


class ConversionItem(msgspec.Struct, frozen=True, kw_only=True):
    sku: str
    quantity: int


class ConversionRow(msgspec.Struct, frozen=True, kw_only=True):
    """One in-store purchase attributed to its customer's last click of the network (`format=ndjson`)."""

    conversion_id: Annotated[
        str, msgspec.Meta(description="Stable: `pos:{store}:{event_id}` or `order:{order_id}`; the dedup key")
    ]
    source: Literal["pos", "pickup"]
    store: str
    occurred_at: datetime
    customer_id: uuid.UUID
    value: Money
    value_decimal: Annotated[str, msgspec.Meta(description="The value in major units, e.g. 19.99")]
    items: list[ConversionItem]
    click: ClickRef
    hashed_email: Annotated[
        str | None, msgspec.Meta(description="SHA-256 hex of the email normalised by the network's rules")
    ]
    hashed_phone: Annotated[
        str | None, msgspec.Meta(description="SHA-256 hex of the phone normalised by the network's rules")
    ]


class MetaUserData(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    em: list[str] | None = None
    ph: list[str] | None = None
    fbc: str | None = None
    external_id: list[str] | None = None


class MetaContent(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    quantity: int


class MetaCustomData(msgspec.Struct, frozen=True, kw_only=True):
    value: Annotated[Decimal, msgspec.Meta(description="Decimal major units")]
    currency: str
    order_id: str
    contents: list[MetaContent]


class MetaEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One Conversions API server event (`format=meta_ndjson`), an element of the request's `data`."""

    event_name: Literal["Purchase"]
    event_time: int
    action_source: Literal["physical_store"]
    event_id: str
    user_data: MetaUserData
    custom_data: MetaCustomData


class PickupFigures(msgspec.Struct, frozen=True, kw_only=True):
    orders: Annotated[int, msgspec.Meta(description="Pickup orders placed in the period")]
    collected: int
    expired: Annotated[int, msgspec.Meta(description="Not collected by their hold: no-shows")]
    cancelled: int
    open: Annotated[int, msgspec.Meta(description="Placed or ready, still waiting")]
    no_show_rate: Annotated[
        str | None, msgspec.Meta(description="expired / (collected + expired), 4 decimals; null without either")
    ]


class InfluencedRevenue(msgspec.Struct, frozen=True, kw_only=True):
    network: Network
    campaign: str | None
    purchases: int
    customers: int
    revenue: Money


class RevenueFigure(msgspec.Struct, frozen=True, kw_only=True):
    currency: str
    purchases: int
    customers: int
    revenue: Money


class OmnichannelReport(msgspec.Struct, frozen=True, kw_only=True):
    since: datetime
    until: datetime
    influenced_store_revenue: Annotated[
        list[InfluencedRevenue],
        msgspec.Meta(
            description="In-store purchases (customers' till sales, collected pickups) in the period whose customer "
            "clicked an ad of the network within its window before, credited to the last click's campaign"
        ),
    ]
    pickup: PickupFigures
    online_orders_picked_up: Annotated[
        list[RevenueFigure],
        msgspec.Meta(description="Web and mobile orders collected at a store in the period, per currency"),
    ]
    store_purchases_by_online_buyers: Annotated[
        list[RevenueFigure],
        msgspec.Meta(
            description="Till sales linked to a customer in the period, by customers who have also ordered on the web or mobile"
        ),
    ]
    store_purchases_all: Annotated[
        list[RevenueFigure],
        msgspec.Meta(description="Every till sale linked to a customer in the period, for comparison"),
    ]
