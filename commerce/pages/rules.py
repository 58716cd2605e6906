"""Rules of the public pages without I/O: GTINs, the shelf promise, schema.org JSON-LD, ETags."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from commerce.errors import Unprocessable
from commerce.feeds.rules import FeedAvailability, price_text
from commerce.stores.rules import WEEKDAYS
from commerce.stores.schemas import OpeningHours, SpecialHours

# --- GTIN (GS1 General Specifications, section 7.9: check digit by the mod-10 algorithm) ---

GTIN_LENGTHS = (8, 12, 13, 14)


def gtin_check_digit(body: str) -> int:
    """The check digit for the digits before it: weights 3, 1, 3, ... from the right."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def gtin14(raw: str) -> str:
    """A GTIN-8, -12, -13 or -14 as its GTIN-14 (left-padded with zeros), its check digit verified."""
    if not raw.isascii() or not raw.isdigit() or len(raw) not in GTIN_LENGTHS:
        raise Unprocessable(f"{raw!r} is not a GTIN: it must be 8, 12, 13 or 14 digits.", code="invalid_gtin")
    if gtin_check_digit(raw[:-1]) != int(raw[-1]):
        raise Unprocessable(f"{raw!r} is not a GTIN: its check digit is wrong.", code="invalid_gtin")
    return raw.zfill(14)


def as_gtin14(barcode: str | None) -> str | None:
    """A stored barcode as GTIN-14, or None when it is not a valid GTIN."""
    if barcode is None:
        return None
    try:
        return gtin14(barcode)
    except Unprocessable:
        return None


def barcode_spellings(code: str) -> list[str]:
    """Every way the GTIN-14 `code` can be written as a GTIN-14, -13, -12 or -8 (dropping leading zeros):
    how it may be stored as a variant's barcode."""
    return [code[14 - n :] for n in (14, 13, 12, 8) if code[: 14 - n].strip("0") == ""]


# --- what a shopper is promised ---

SCHEMA_AVAILABILITY: dict[FeedAvailability, str] = {
    "in_stock": "https://schema.org/InStock",
    "limited_availability": "https://schema.org/LimitedAvailability",
    "out_of_stock": "https://schema.org/OutOfStock",
}
AVAILABILITY_TEXT: dict[FeedAvailability, str] = {
    "in_stock": "In stock",
    "limited_availability": "Limited stock",
    "out_of_stock": "Out of stock",
}


def pickup_promise(pickup_enabled: bool, lead_minutes: int, availability: FeedAvailability) -> str | None:
    """ "Ready for pickup in 2 hours" when the store offers pickup and has the item, else None."""
    if not pickup_enabled or availability == "out_of_stock":
        return None
    return f"Ready for pickup in {duration_text(lead_minutes)}"


def duration_text(minutes: int) -> str:
    if minutes < 60:
        return f"{minutes} minute{'s' * (minutes != 1)}"
    if minutes < 48 * 60 and minutes % 60 == 0:
        hours = minutes // 60
        return f"{hours} hour{'s' * (hours != 1)}"
    if minutes < 48 * 60:
        return f"{minutes // 60} h {minutes % 60} min"
    days = round(minutes / (24 * 60))
    return f"{days} days"


def money_text(amount: int, currency: str) -> str:
    """Shown prices: the feed's text with the currency's symbol where it is unambiguous."""
    number, _, code = price_text(amount, currency).partition(" ")
    symbol = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}.get(code)
    return f"{symbol}{number}" if symbol else f"{number} {code}"


def schema_price(amount: int, currency: str) -> str:
    """schema.org `price`: a plain decimal number, the minor units placed by the currency's exponent."""
    return price_text(amount, currency).partition(" ")[0]


# --- schema.org JSON-LD ---

_SCHEMA_DAYS = dict(
    zip(WEEKDAYS, ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"), strict=True)
)


def opening_hours_specification(
    opening_hours: Sequence[OpeningHours], special_hours: Sequence[SpecialHours]
) -> list[dict[str, Any]]:
    """schema.org `OpeningHoursSpecification`s: weekly hours, then dated ones (a closed date is
    00:00-00:00, schema.org's way of saying closed all day). A `closes` earlier than `opens` means
    the next morning in both our data and schema.org's; our closing time 24:00 is written 23:59, as
    schema.org's times are times of day (xsd:time has no 24:00)."""
    specs: list[dict[str, Any]] = [
        {
            "@type": "OpeningHoursSpecification",
            "dayOfWeek": f"https://schema.org/{_SCHEMA_DAYS[h.day]}",
            "opens": h.opens,
            "closes": "23:59" if h.closes == "24:00" else h.closes,
        }
        for h in opening_hours
    ]
    for s in special_hours:
        specs.append(
            {
                "@type": "OpeningHoursSpecification",
                "validFrom": s.date.isoformat(),
                "validThrough": s.date.isoformat(),
                "opens": "00:00" if s.closed else s.opens,
                "closes": "00:00" if s.closed else ("23:59" if s.closes == "24:00" else s.closes),
            }
        )
    return specs


def etag(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def matches_etag(if_none_match: str | None, current: str) -> bool:
    """RFC 9110 13.1.2: `*` or any listed tag, compared weakly (a W/ prefix is ignored)."""
    if not if_none_match:
        return False
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or current in tags


def json_ld_text(data: Any) -> str:
    """JSON for a `<script type="application/ld+json">` block: `<`, `>` and `&` escaped so no text in
    the data can end the script element."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


# --- hours as shown on a store's page ---

_DAY_NAMES = dict(
    zip(WEEKDAYS, ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"), strict=True)
)


def hours_text(opens: str | None, closes: str | None, closed: bool = False) -> str:
    if closed or opens is None or closes is None:
        return "Closed"
    overnight = closes != "24:00" and closes < opens
    return f"{opens}–{closes}" + (" (next day)" if overnight else "")


def week_rows(opening_hours: Sequence[OpeningHours], today: date) -> list[tuple[str, str, bool]]:
    """(day name, hours, is today) for Monday to Sunday; a day without hours is Closed."""
    rows = []
    for i, day in enumerate(WEEKDAYS):
        spans = [hours_text(h.opens, h.closes) for h in opening_hours if h.day == day]
        rows.append((_DAY_NAMES[day], ", ".join(spans) or "Closed", i == today.weekday()))
    return rows


def upcoming_special_hours(
    special_hours: Sequence[SpecialHours], today: date, days: int = 60
) -> list[tuple[date, str]]:
    """Dated exceptions from today on, for the next `days` days, as (date, hours)."""
    by_date: dict[date, list[str]] = {}
    for s in special_hours:
        if today <= s.date < today + timedelta(days=days):
            by_date.setdefault(s.date, []).append(hours_text(s.opens, s.closes, s.closed))
    return [(d, ", ".join(texts)) for d, texts in sorted(by_date.items())]


def tel_uri(phone: str) -> str:
    """`+1 (312) 555-0100` -> `tel:+13125550100`."""
    return "tel:" + ("+" if phone.strip().startswith("+") else "") + "".join(c for c in phone if c.isdigit())
