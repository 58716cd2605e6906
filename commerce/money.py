from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

import msgspec
import pycountry

# The active ISO 4217 codes, as the pycountry package keeps them (it follows the ISO list).
ISO_4217: frozenset[str] = frozenset(currency.alpha_3 for currency in pycountry.currencies)

if TYPE_CHECKING:
    Currency = str
else:
    # A Literal, so msgspec refuses any other code and the OpenAPI document lists the valid ones.
    Currency = Annotated[Literal[tuple(sorted(ISO_4217))], msgspec.Meta(description="ISO 4217 code, e.g. USD")]

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

MinorUnits = Annotated[int, msgspec.Meta(ge=0, le=10**12, description="Integer minor units (cents)")]


class Money(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An amount of money: integer minor units plus ISO 4217 currency. Never a float."""

    amount: MinorUnits
    currency: Currency


def minor_unit_digits(currency: str) -> int:
    """ISO 4217 minor-unit exponent: 2 for most currencies, 0 for JPY and the like, 3 for KWD and the like."""
    return 0 if currency in _ZERO_DECIMAL else 3 if currency in _THREE_DECIMAL else 2


def major_units(amount: int, currency: str) -> str:
    """Integer minor units as a decimal string in major units, with integer arithmetic only:
    1999 USD -> "19.99", 500 JPY -> "500", 1234 KWD -> "1.234", -5 USD -> "-0.05"."""
    digits = minor_unit_digits(currency)
    if digits == 0:
        return str(amount)
    sign = "-" if amount < 0 else ""
    whole, fraction = divmod(abs(amount), 10**digits)
    return f"{sign}{whole}.{fraction:0{digits}d}"
