from __future__ import annotations

from typing import Literal

import msgspec

from commerce.feeds.rules import FeedAvailability

FeedFormat = Literal["ndjson", "tsv"]


class LocalInventoryRow(msgspec.Struct, frozen=True, kw_only=True):
    """One (store, sku) row in the fields of the common local-inventory feed format."""

    store_code: str
    id: str
    quantity: int
    price: str
    availability: FeedAvailability
    pickup_method: str
    pickup_sla: str | None
    # The store's page for this product, with the `{store_code}` placeholder (from COMMERCE_PUBLIC_URL).
    link_template: str
