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
MinorUnits = Annotated[int, msgspec.Meta(ge=0, le=10**12, description="Integer minor units (cents)")]


class Money(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An amount of money: integer minor units plus ISO 4217 currency. Never a float."""

    amount: MinorUnits
    currency: Currency
