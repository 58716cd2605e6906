from __future__ import annotations

from typing import Annotated, Literal

import msgspec

StoreKind = Literal["store", "warehouse"]
Latitude = Annotated[float, msgspec.Meta(ge=-90, le=90, description="Decimal degrees, -90 to 90")]
Longitude = Annotated[float, msgspec.Meta(ge=-180, le=180, description="Decimal degrees, -180 to 180")]


class StoreIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    kind: StoreKind
    latitude: Latitude
    longitude: Longitude
    address: Annotated[str, msgspec.Meta(max_length=500)] | None = None
    timezone: Annotated[str, msgspec.Meta(description="IANA time zone, e.g. America/Chicago")] = "UTC"
    pickup_enabled: bool = False
    pickup_lead_minutes: Annotated[int, msgspec.Meta(ge=0, le=30 * 24 * 60)] = 60


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
