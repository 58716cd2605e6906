from __future__ import annotations

from typing import Annotated

import msgspec

Currency = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$", description="ISO 4217 code, e.g. USD")]
MinorUnits = Annotated[int, msgspec.Meta(ge=0, le=10**12, description="Integer minor units (cents)")]


class Money(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An amount of money: integer minor units plus ISO 4217 currency. Never a float."""

    amount: MinorUnits
    currency: Currency
