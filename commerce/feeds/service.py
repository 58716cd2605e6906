"""The local-inventory feed for ad systems, streamed straight from a server-side cursor.

Only locations of kind `store` are listed: a warehouse is not somewhere a shopper can walk in,
so it is not local inventory. Every inventory level of a store is one row (sold out rows say
`out_of_stock`); a (store, sku) that never had a level is not stocked there and is left out.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import msgspec
from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncEngine

from commerce.feeds.rules import FEED_FIELDS, feed_availability, pickup_method, pickup_sla, price_text, tsv_field
from commerce.feeds.schemas import FeedFormat, LocalInventoryRow
from commerce.pages.links import link_template

# In primary-key order of inventory_levels, so PostgreSQL streams it from the index without sorting.
_ROWS = text(
    """
    SELECT il.store_code, il.sku, greatest(il.on_hand - il.reserved - il.safety_stock, 0) AS available,
           v.price_amount, v.currency, s.pickup_enabled, s.pickup_lead_minutes
    FROM inventory_levels il
    JOIN stores s ON s.code = il.store_code
    JOIN variants v ON v.sku = il.sku
    WHERE s.kind = 'store'
    ORDER BY il.store_code, il.sku
    """
)

_encoder = msgspec.json.Encoder()


def feed_row(row: Row[Any], low_stock_threshold: int, base: str) -> LocalInventoryRow:
    return LocalInventoryRow(
        store_code=row.store_code,
        id=row.sku,
        quantity=row.available,
        price=price_text(row.price_amount, row.currency),
        availability=feed_availability(row.available, low_stock_threshold),
        pickup_method=pickup_method(row.pickup_enabled),
        pickup_sla=pickup_sla(row.pickup_enabled, row.pickup_lead_minutes),
        link_template=link_template(base, row.sku),
    )


def _encode(rows: Sequence[LocalInventoryRow], fmt: FeedFormat) -> bytes:
    if fmt == "ndjson":
        return _encoder.encode_lines(rows)
    return "".join("\t".join(tsv_field(getattr(r, name)) for name in FEED_FIELDS) + "\n" for r in rows).encode()


async def stream_local_inventory(
    engine: AsyncEngine, fmt: FeedFormat, *, low_stock_threshold: int, base: str, chunk_rows: int = 1000
) -> AsyncIterator[bytes]:
    """The feed as chunks of encoded rows; at most `chunk_rows` rows are in memory at a time.

    It reads on a connection of its own, because the response body is sent after the request's
    transaction has ended.
    """
    if fmt == "tsv":
        yield ("\t".join(FEED_FIELDS) + "\n").encode()
    async with engine.connect() as conn:
        result = await conn.stream(_ROWS, execution_options={"yield_per": chunk_rows})
        async for rows in result.partitions(chunk_rows):
            yield _encode([feed_row(r, low_stock_threshold, base) for r in rows], fmt)
