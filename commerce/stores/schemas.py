from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

import msgspec

StoreKind = Literal["store", "warehouse"]
Latitude = Annotated[float, msgspec.Meta(ge=-90, le=90, description="Decimal degrees, -90 to 90")]
Longitude = Annotated[float, msgspec.Meta(ge=-180, le=180, description="Decimal degrees, -180 to 180")]

# --- opening hours (rules: stores/rules.py) ---
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
ClockTime = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[0-9]{2}:[0-9]{2}$",
        description="Local wall-clock time HH:MM (00:00-23:59; `closes` may be 24:00). A `closes` earlier than "
        "`opens` means the store closes the next morning (22:00-02:00).",
    ),
]
Phone = Annotated[str, msgspec.Meta(pattern=r"^\+?[0-9 ().\-/]{3,31}$", description="e.g. +1 312 555 0100")]


class OpeningHours(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Regular hours on one weekday; a day may have several (split hours), none means closed that day."""

    day: Weekday
    opens: ClockTime
    closes: ClockTime


class SpecialHours(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Hours on one date that replace that weekday's regular hours: `closed: true`, or `opens` and `closes`."""

    date: date
    opens: ClockTime | None = None
    closes: ClockTime | None = None
    closed: bool = False


class StoreIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    kind: StoreKind
    latitude: Latitude
    longitude: Longitude
    address: Annotated[str, msgspec.Meta(max_length=500)] | None = None
    timezone: Annotated[str, msgspec.Meta(description="IANA time zone, e.g. America/Chicago")] = "UTC"
    pickup_enabled: bool = False
    pickup_lead_minutes: Annotated[int, msgspec.Meta(ge=0, le=30 * 24 * 60)] = 60
    phone: Phone | None = None
    opening_hours: Annotated[list[OpeningHours], msgspec.Meta(max_length=50)] = msgspec.field(default_factory=list)
    special_hours: Annotated[list[SpecialHours], msgspec.Meta(max_length=400)] = msgspec.field(default_factory=list)


class StoreOut(msgspec.Struct, frozen=True, kw_only=True):
    code: str
    name: str
    kind: StoreKind
    latitude: float
    longitude: float
    address: str | None
    timezone: str
    pickup_enabled: bool
    pickup_lead_minutes: int
    phone: str | None = None
    opening_hours: list[OpeningHours] = msgspec.field(default_factory=list)
    special_hours: list[SpecialHours] = msgspec.field(default_factory=list)
    open_now: Annotated[
        bool | None,
        msgspec.Meta(description="Open at this moment in the store's own time zone; null without published hours"),
    ] = None


class StoreListItem(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A store in a listing; `distance_km` is present when the listing is around a point."""

    code: str
    name: str
    kind: StoreKind
    latitude: float
    longitude: float
    address: str | None
    timezone: str
    pickup_enabled: bool
    pickup_lead_minutes: int
    distance_km: Annotated[
        float | None, msgspec.Meta(description="Geodesic (WGS-84) distance from `near` (only with `near`)")
    ] = None
    available: Annotated[int | None, msgspec.Meta(description="Units of `sku` available here (only with `sku`)")] = None
