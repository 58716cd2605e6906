"""Offline-conversion and audience exports, streamed from a server-side cursor in constant memory.

Each export reads on a connection of its own: the response body is sent after the request's
transaction has ended (that transaction has joined anonymous clicks to their carts' owners first). It
streams one statement's rows `chunk_rows` at a time.

Consent is read at export time: a customer who withdrew every marketing consent after clicking is
left out, and a hashed email (phone) is only sent while the customer consents to email (sms)
marketing.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import msgspec
from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncEngine

from commerce.ads import rules
from commerce.ads.rules import Network
from commerce.ads.schemas import (
    ClickRef,
    ConversionItem,
    ConversionRow,
    ExportFormat,
    MetaContent,
    MetaCustomData,
    MetaEvent,
    MetaUserData,
)
from commerce.money import Money, major_units
from commerce.settings import Settings


def in_store_purchases(items: bool, customers: str | None = None) -> str:
    """The in-store purchases of the period [:since, :until): till sales linked to a customer (valued at the
    till's prices, the catalog price for a line rung up without one) and collected pickup orders (their pickup
    lines, at the time they were collected). With `items`, each row lists its lines' skus and quantities; with
    `customers` (a subquery of customer ids), only those customers' purchases are read and valued."""
    sales_of = f"AND cu.id IN ({customers})" if customers else ""
    orders_of = f"AND o.customer_id IN ({customers})" if customers else ""
    pos_items = (
        "jsonb_agg(jsonb_build_object('sku', l ->> 'sku', 'quantity', (l ->> 'quantity')::int))" if items else "NULL"
    )
    order_items = (
        "jsonb_agg(jsonb_build_object('sku', ol.sku, 'quantity', ol.quantity) ORDER BY ol.line_no)" if items else "NULL"
    )
    # The catalog is read only for a line without a till price (coalesce evaluates it only then).
    return f"""
    SELECT 'pos:' || p.store_code || ':' || p.event_id AS conversion_id, 'pos' AS source,
           p.store_code AS store, p.occurred_at, cu.id AS customer_id, v.amount, v.currency, v.items
    FROM (
        -- OFFSET 0 keeps this a range scan of the period's customers' sales (ix_pos_events_customer_sales_at);
        -- joined directly, the planner walked the whole customer index for its order.
        SELECT * FROM pos_events
        WHERE customer_id IS NOT NULL AND type = 'sale' AND occurred_at >= :since AND occurred_at < :until
        OFFSET 0
    ) p
    JOIN customers cu ON cu.id = p.customer_id {sales_of}
    CROSS JOIN LATERAL (
        SELECT sum((l ->> 'quantity')::bigint * coalesce(
                   (l -> 'unit_price' ->> 'amount')::bigint,
                   (SELECT va.price_amount FROM variants va WHERE va.sku = l ->> 'sku'), 0))::bigint AS amount,
               coalesce(min(l -> 'unit_price' ->> 'currency'),
                        (SELECT min(va.currency) FROM variants va
                         WHERE va.sku IN (SELECT x ->> 'sku' FROM jsonb_array_elements(p.lines) x))) AS currency,
               {pos_items} AS items
        FROM jsonb_array_elements(p.lines) l
    ) v
    UNION ALL
    SELECT 'order:' || o.id, 'pickup', o.pickup_store, o.updated_at, o.customer_id, v.amount, o.currency, v.items
    FROM orders o
    CROSS JOIN LATERAL (
        SELECT sum(ol.line_total)::bigint AS amount, {order_items} AS items
        FROM order_lines ol
        WHERE ol.order_id = o.id AND ol.fulfillment = 'pickup'
    ) v
    WHERE o.status = 'collected' AND o.pickup_store IS NOT NULL AND o.customer_id IS NOT NULL
      AND o.updated_at >= :since AND o.updated_at < :until {orders_of}
    """


def clickers(network: str, window: str) -> str:
    """The customers with a click of `network` that a purchase of the period could be credited to (SQL
    expressions, as for `last_click`): reading only their purchases skips everyone who never clicked."""
    return f"""
        SELECT k.customer_id FROM ad_clicks k
        WHERE k.customer_id IS NOT NULL AND k.network = ANY({network})
          AND k.clicked_at >= CAST(:since AS timestamptz) - {window} AND k.clicked_at < :until
    """


def last_click(network: str, window: str) -> str:
    """The click a purchase `pu` is credited to: its customer's last click of `network` at or before the
    purchase and at most `window` (an interval) before it. Both are SQL expressions."""
    return f"""
        SELECT k.click_id, k.click_id_type, k.clicked_at, k.campaign
        FROM ad_clicks k
        WHERE k.customer_id = pu.customer_id AND k.network = {network}
          AND k.clicked_at <= pu.occurred_at AND k.clicked_at >= pu.occurred_at - {window}
        ORDER BY k.clicked_at DESC, k.id DESC
        LIMIT 1
    """


_WINDOW = "CAST(:window AS interval)"
_PURCHASES = in_store_purchases(True, clickers("ARRAY[CAST(:network AS varchar)]", _WINDOW))
_CONVERSIONS = text(
    f"""
    WITH purchases AS ({_PURCHASES})
    SELECT pu.conversion_id, pu.source, pu.store, pu.occurred_at, pu.customer_id, pu.amount, pu.currency,
           pu.items, cu.email, cu.phone, cu.email_consent, cu.sms_consent,
           k.click_id, k.click_id_type, k.clicked_at, k.campaign
    FROM purchases pu
    JOIN customers cu ON cu.id = pu.customer_id
    CROSS JOIN LATERAL ({last_click(":network", _WINDOW)}) k
    WHERE (cu.email_consent OR cu.sms_consent) AND pu.amount IS NOT NULL
    ORDER BY pu.occurred_at, pu.conversion_id
    """
)

_AUDIENCE = text(
    """
    SELECT cu.id, cu.email, cu.phone, cu.email_consent, cu.sms_consent
    FROM segment_members sm
    JOIN customers cu ON cu.id = sm.customer_id
    WHERE sm.segment_id = :segment AND (cu.email_consent OR cu.sms_consent)
    ORDER BY sm.customer_id
    """
)

# Planner settings for the export and report statements, for their transaction only. The per-purchase
# subqueries make the cost estimates large enough to switch JIT compilation on, which then costs more (over
# a second) than these index-driven statements take to run; and memoizing a sale's value by its lines (a
# JSONB cache key that almost never repeats) cost a quarter of the year-long report.
PLANNER_SETTINGS = ("SET LOCAL jit = off", "SET LOCAL enable_memoize = off")

GOOGLE_CSV_HEADER = ("Google Click ID", "Conversion Name", "Conversion Time", "Conversion Value", "Conversion Currency")
# Google's upload template starts with its parameters row; times carry their own offset as well.
GOOGLE_CSV_PARAMETERS = "Parameters:TimeZone=+0000"
AUDIENCE_HEADERS: dict[str, tuple[str, str]] = {"google": ("Email", "Phone"), "meta": ("email", "phone")}

_json = msgspec.json.Encoder(decimal_format="number")


def _csv(rows: Sequence[Sequence[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue().encode()


class ConversionEncoder:
    """Turns the conversions statement's rows into one export format's bytes."""

    def __init__(self, network: Network, fmt: ExportFormat, settings: Settings) -> None:
        self.network, self.fmt, self.settings = network, fmt, settings

    def preamble(self) -> bytes:
        if self.fmt == "google_csv":
            return (GOOGLE_CSV_PARAMETERS + "\n").encode() + _csv([GOOGLE_CSV_HEADER])
        return b""

    def identifiers(self, row: Row[Any]) -> tuple[str | None, str | None]:
        email = rules.hashed_email(self.network, row.email) if row.email_consent else None
        phone = rules.hashed_phone(self.network, row.phone, self.settings.ads_phone_region) if row.sms_consent else None
        return email, phone

    def conversion(self, row: Row[Any]) -> ConversionRow:
        email, phone = self.identifiers(row)
        return ConversionRow(
            conversion_id=row.conversion_id,
            source=row.source,
            store=row.store,
            occurred_at=row.occurred_at,
            customer_id=row.customer_id,
            value=Money(amount=row.amount, currency=row.currency),
            value_decimal=major_units(row.amount, row.currency),
            items=[ConversionItem(sku=i["sku"], quantity=i["quantity"]) for i in row.items],
            click=ClickRef(
                network=self.network,
                click_id=row.click_id,
                click_id_type=row.click_id_type,
                clicked_at=row.clicked_at,
                campaign=row.campaign,
            ),
            hashed_email=email,
            hashed_phone=phone,
        )

    def meta_event(self, row: Row[Any]) -> MetaEvent:
        email, phone = self.identifiers(row)
        return MetaEvent(
            event_name="Purchase",
            event_time=int(row.occurred_at.timestamp()),
            action_source="physical_store",
            event_id=row.conversion_id,
            user_data=MetaUserData(
                em=[email] if email else None,
                ph=[phone] if phone else None,
                fbc=rules.meta_fbc(row.click_id, row.clicked_at),
                external_id=[rules.sha256_hex(str(row.customer_id))],
            ),
            custom_data=MetaCustomData(
                value=Decimal(major_units(row.amount, row.currency)),
                currency=row.currency,
                order_id=row.conversion_id,
                contents=[MetaContent(id=i["sku"], quantity=i["quantity"]) for i in row.items],
            ),
        )

    def google_row(self, row: Row[Any]) -> tuple[str, ...] | None:
        # The file carries gclids only; a purchase whose last click was a gbraid or wbraid is in `ndjson`.
        if row.click_id_type != "gclid":
            return None
        return (
            row.click_id,
            self.settings.ads_google_conversion_name,
            rules.google_conversion_time(row.occurred_at),
            major_units(row.amount, row.currency),
            row.currency,
        )

    def encode(self, rows: Sequence[Row[Any]]) -> bytes:
        if self.fmt == "google_csv":
            return _csv([r for r in map(self.google_row, rows) if r is not None])
        if self.fmt == "meta_ndjson":
            return _json.encode_lines([self.meta_event(r) for r in rows])
        return _json.encode_lines([self.conversion(r) for r in rows])


async def _stream(
    engine: AsyncEngine,
    statement: Any,
    params: dict[str, Any],
    encode: Callable[[Sequence[Row[Any]]], bytes],
    chunk_rows: int,
) -> AsyncIterator[bytes]:
    async with engine.connect() as conn:
        for setting in PLANNER_SETTINGS:
            await conn.execute(text(setting))
        result = await conn.stream(statement, params, execution_options={"yield_per": chunk_rows})
        async for rows in result.partitions(chunk_rows):
            chunk = encode(rows)
            if chunk:
                yield chunk


async def stream_conversions(
    engine: AsyncEngine,
    settings: Settings,
    *,
    network: Network,
    fmt: ExportFormat,
    since: datetime,
    until: datetime,
    chunk_rows: int = 1000,
) -> AsyncIterator[bytes]:
    """The offline conversions of [since, until) for `network`, in time order, as `fmt`."""
    encoder = ConversionEncoder(network, fmt, settings)
    window: timedelta = rules.window(network, settings.ads_google_window_days, settings.ads_meta_window_days)
    yield encoder.preamble()
    params = {"network": network, "since": since, "until": until, "window": window}
    async for chunk in _stream(engine, _CONVERSIONS, params, encoder.encode, chunk_rows):
        yield chunk


async def stream_audience(
    engine: AsyncEngine, settings: Settings, *, segment: str, network: Network, chunk_rows: int = 1000
) -> AsyncIterator[bytes]:
    """A segment's consented members as the network's customer-list file: a header, then one row per member
    with their SHA-256 hashed email and phone (empty where not consented or not valid)."""
    region = settings.ads_phone_region

    def encode(rows: Sequence[Row[Any]]) -> bytes:
        out = []
        for r in rows:
            email = rules.hashed_email(network, r.email) if r.email_consent else None
            phone = rules.hashed_phone(network, r.phone, region) if r.sms_consent else None
            if email or phone:
                out.append((email or "", phone or ""))
        return _csv(out)

    yield _csv([AUDIENCE_HEADERS[network]])
    async for chunk in _stream(engine, _AUDIENCE, {"segment": segment}, encode, chunk_rows):
        yield chunk
