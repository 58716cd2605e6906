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


def customer_sales(detail: bool) -> str:
    """The period's [:since, :until) till sales linked to a customer: `occurred_at`, `customer_id` and their
    value and currency (`amount`, `currency`) as stored when they were ingested; with `detail`, also
    `store_code`, `event_id` and `lines`. Without, the period is read from its index alone.

    A sale with a line rung up without a price has no value stored; it is valued here, at the catalog price
    for such a line, in a branch of its own: costed for the few rows it reads (a fallback inside one
    expression is costed as if it ran for every sale, which swamps the estimates and the join choices with
    them). OFFSET 0 keeps each branch a range scan of the period on its partial index; joined directly, the
    planner walked the whole customer index."""
    more = "store_code, event_id, lines, " if detail else ""
    return f"""
    (SELECT {more}occurred_at, customer_id, total_minor AS amount, currency
     FROM pos_events
     WHERE customer_id IS NOT NULL AND type = 'sale' AND total_minor IS NOT NULL
       AND occurred_at >= :since AND occurred_at < :until
     OFFSET 0)
    UNION ALL
    (SELECT {more}occurred_at, customer_id, v.amount, v.currency
     FROM pos_events e
     CROSS JOIN LATERAL (
         SELECT sum((l ->> 'quantity')::bigint * coalesce((l -> 'unit_price' ->> 'amount')::bigint, va.price_amount, 0))
                    ::bigint AS amount,
                coalesce(min(l -> 'unit_price' ->> 'currency'), min(va.currency)) AS currency
         FROM jsonb_array_elements(e.lines) l LEFT JOIN variants va ON va.sku = l ->> 'sku'
     ) v
     WHERE e.customer_id IS NOT NULL AND e.type = 'sale' AND e.total_minor IS NULL
       AND e.occurred_at >= :since AND e.occurred_at < :until
     OFFSET 0)
    """


def in_store_purchases(detail: bool, customers: str | None = None) -> str:
    """The in-store purchases of the period [:since, :until): till sales linked to a customer (see
    `customer_sales`) and collected pickup orders (their pickup lines, at the time they were collected):
    `source`, `occurred_at`, `customer_id`, `amount`, `currency`. With `detail`, also each row's
    `conversion_id`, `store` and `items` (its lines' skus and quantities). With `customers` (a subquery of
    customer ids), only those customers' purchases are read."""
    sales_of = f"WHERE p.customer_id IN ({customers})" if customers else ""
    orders_of = f"AND o.customer_id IN ({customers})" if customers else ""
    pos_detail = order_detail = ""
    if detail:
        pos_detail = """'pos:' || p.store_code || ':' || p.event_id AS conversion_id, p.store_code AS store,
            (SELECT jsonb_agg(jsonb_build_object('sku', l ->> 'sku', 'quantity', (l ->> 'quantity')::int))
             FROM jsonb_array_elements(p.lines) l) AS items,"""
        order_detail = """'order:' || o.id, o.pickup_store,
            jsonb_agg(jsonb_build_object('sku', ol.sku, 'quantity', ol.quantity) ORDER BY ol.line_no),"""
    return f"""
    SELECT {pos_detail} 'pos' AS source, p.occurred_at, p.customer_id, p.amount, p.currency
    FROM ({customer_sales(detail)}) p
    {sales_of}
    UNION ALL
    SELECT {order_detail} 'pickup', o.updated_at, o.customer_id, sum(ol.line_total)::bigint, o.currency
    FROM orders o
    JOIN order_lines ol ON ol.order_id = o.id AND ol.fulfillment = 'pickup'
    WHERE o.status = 'collected' AND o.pickup_store IS NOT NULL AND o.customer_id IS NOT NULL
      AND o.updated_at >= :since AND o.updated_at < :until {orders_of}
    GROUP BY o.id
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

# Planner settings for the export and report statements, for their transaction only. The value subqueries
# of sales without a stored value (see `customer_sales`) are costed as if they ran for every sale, which makes
# the estimates large enough to switch JIT compilation on, which then costs more (over a second) than these
# statements take to run; and memoizing by a sale's JSONB lines (a key that almost never repeats) costs more
# than it saves.
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
        # Google's click-conversion file template has a Google Click ID column only; gbraid and wbraid are
        # documented for the API's ClickConversion (one identifier per conversion), so a purchase whose last
        # click was one of those is in `ndjson`, for an API upload, and not here.
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
