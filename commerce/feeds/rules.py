"""The local-inventory feed's row format (the common local product inventory feed of ad systems)."""

from __future__ import annotations

from typing import Literal

from commerce.inventory.rules import stock_status

FeedAvailability = Literal["in_stock", "limited_availability", "out_of_stock"]

FEED_FIELDS = (
    "store_code",
    "id",
    "quantity",
    "price",
    "availability",
    "pickup_method",
    "pickup_sla",
    "link_template",
)

# ISO 4217 minor-unit exponents that are not 2.
_ZERO_DECIMAL = frozenset(
    {
        "BIF",
        "CLP",
        "DJF",
        "GNF",
        "ISK",
        "JPY",
        "KMF",
        "KRW",
        "PYG",
        "RWF",
        "UGX",
        "UYI",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
    }
)
_THREE_DECIMAL = frozenset({"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"})


def feed_availability(available: int, low_stock_threshold: int) -> FeedAvailability:
    """in_stock; limited_availability when 0 < available <= threshold; out_of_stock at 0."""
    status = stock_status(available, low_stock_threshold)
    return "limited_availability" if status == "low_stock" else status


def price_text(amount: int, currency: str) -> str:
    """Minor units as the feed's price text, e.g. 1999 USD -> "19.99 USD", 500 JPY -> "500 JPY"."""
    digits = 0 if currency in _ZERO_DECIMAL else 3 if currency in _THREE_DECIMAL else 2
    if digits == 0:
        return f"{amount} {currency}"
    whole, fraction = divmod(amount, 10**digits)
    return f"{whole}.{fraction:0{digits}d} {currency}"


def pickup_method(pickup_enabled: bool) -> str:
    """ "buy": order online and pick up in store; "not supported" where the store offers no pickup."""
    return "buy" if pickup_enabled else "not supported"


def pickup_sla(pickup_enabled: bool, lead_minutes: int) -> str | None:
    """The feed's pickup time bucket from the store's pickup lead time (None without pickup)."""
    if not pickup_enabled:
        return None
    days = lead_minutes // (24 * 60)
    if days == 0:
        return "same day"
    if days == 1:
        return "next day"
    if days <= 6:
        return f"{days}-day"
    return "multi-week"


def tsv_field(value: object) -> str:
    """One TSV cell: tabs, newlines and backslashes escaped so every row stays one line of fields."""
    if value is None:
        return ""
    return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
