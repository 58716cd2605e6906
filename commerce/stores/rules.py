"""Store rules without I/O: geodesy (parsing points, the search box around a point, exact distances) and
opening hours (validation, open now in the store's own time zone)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from geopy.distance import geodesic

from commerce.errors import Unprocessable
from commerce.stores.schemas import OpeningHours, SpecialHours, Weekday

EARTH_MEAN_RADIUS_KM = 6371.0088
# Haversine on the mean sphere is within 0.56% of the WGS-84 geodesic; filter with this margin
# in SQL, then decide on the geodesic.
SPHERE_MARGIN = 1.006
MAX_RADIUS_KM = 1000.0

Box = tuple[float, float, float, float]  # min_lon, min_lat, max_lon, max_lat


def parse_point(raw: str, name: str = "near") -> tuple[float, float]:
    """`"LAT,LON"` -> (lat, lon), validated."""
    parts = raw.split(",")
    try:
        if len(parts) != 2:
            raise ValueError
        lat, lon = float(parts[0]), float(parts[1])
    except ValueError:
        raise Unprocessable(f"`{name}` must be LAT,LON in decimal degrees, e.g. 41.8781,-87.6298.") from None
    if not (math.isfinite(lat) and math.isfinite(lon)) or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise Unprocessable(f"`{name}` is out of range: latitude must be in [-90, 90] and longitude in [-180, 180].")
    return lat, lon


def search_boxes(lat: float, lon: float, radius_km: float) -> list[Box]:
    """Latitude/longitude boxes that together contain every point within `radius_km` of (lat, lon).

    Near a pole the box spans all longitudes; across the antimeridian it is split in two.
    """
    dlat = math.degrees(radius_km * SPHERE_MARGIN / EARTH_MEAN_RADIUS_KM)
    min_lat, max_lat = lat - dlat, lat + dlat
    if min_lat <= -90 or max_lat >= 90:
        return [(-180.0, max(min_lat, -90.0), 180.0, min(max_lat, 90.0))]
    dlon = math.degrees(math.asin(min(1.0, math.sin(math.radians(dlat)) / math.cos(math.radians(lat))))) * SPHERE_MARGIN
    min_lon, max_lon = lon - dlon, lon + dlon
    if min_lon < -180:
        return [(-180.0, min_lat, max_lon, max_lat), (min_lon + 360, min_lat, 180.0, max_lat)]
    if max_lon > 180:
        return [(min_lon, min_lat, 180.0, max_lat), (-180.0, min_lat, max_lon - 360, max_lat)]
    return [(min_lon, min_lat, max_lon, max_lat)]


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_MEAN_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


WGS84_A_KM = 6378.137
WGS84_F = 1 / 298.257223563


def geodesic_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Distance on the WGS-84 ellipsoid by Lambert's formula: within metres of the exact geodesic
    for the distances stores are searched over, at a small fraction of its cost (it runs for every
    store in a nearby answer). Near-antipodal pairs, where the formula degrades, use geopy's exact
    geodesic."""
    if lat1 == lat2 and lon1 == lon2:
        return 0.0
    b1 = math.atan((1 - WGS84_F) * math.tan(math.radians(lat1)))
    b2 = math.atan((1 - WGS84_F) * math.tan(math.radians(lat2)))
    dl = math.radians(lon2 - lon1)
    h = math.sin((b2 - b1) / 2) ** 2 + math.cos(b1) * math.cos(b2) * math.sin(dl / 2) ** 2
    sigma = 2 * math.asin(min(1.0, math.sqrt(h)))
    if sigma == 0.0 or math.cos(sigma / 2) < 1e-3:
        return float(geodesic((lat1, lon1), (lat2, lon2)).km)
    p, q = (b1 + b2) / 2, (b2 - b1) / 2
    x = (sigma - math.sin(sigma)) * (math.sin(p) * math.cos(q) / math.cos(sigma / 2)) ** 2
    y = (sigma + math.sin(sigma)) * (math.cos(p) * math.sin(q) / math.sin(sigma / 2)) ** 2
    return WGS84_A_KM * (sigma - WGS84_F / 2 * (x + y))


# --- Opening hours ---------------------------------------------------------------------------
# Times are local wall-clock minutes after midnight. An interval is [opens, closes): `closes` may be
# 24:00 (midnight), and a `closes` earlier than `opens` means the store closes the next morning
# (an overnight interval such as fri 22:00-02:00 belongs to Friday and runs into Saturday). Equal
# times are refused as ambiguous. No two intervals may overlap, overnight ones included.

WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_MINUTES = 24 * 60
WEEK_MINUTES = 7 * DAY_MINUTES

Interval = tuple[int, int]  # (opens, closes) in minutes after the opening day's midnight; closes may pass 1440


def clock_minutes(raw: str, where: str, *, closing: bool = False) -> int:
    """`"HH:MM"` -> minutes after midnight; `24:00` only as a closing time."""
    hours, _, minutes = raw.partition(":")
    if not (hours.isdigit() and minutes.isdigit() and len(hours) == 2 and len(minutes) == 2):
        raise Unprocessable(f"`{where}` must be a time HH:MM, got {raw!r}.")
    value = int(hours) * 60 + int(minutes)
    if int(minutes) > 59 or value > DAY_MINUTES or (value == DAY_MINUTES and not closing):
        raise Unprocessable(f"`{where}` is not a time of day: {raw!r} (00:00-23:59, or 24:00 as a closing time).")
    return value


def interval(opens: str, closes: str, where: str) -> Interval:
    start = clock_minutes(opens, f"{where}.opens")
    end = clock_minutes(closes, f"{where}.closes", closing=True)
    if end == start:
        raise Unprocessable(f"`{where}` opens and closes at the same time ({opens}); give the hours it is open.")
    return (start, end if end > start else end + DAY_MINUTES)


def _overlap(spans: list[tuple[int, int, str]], wrap: int | None = None) -> None:
    spans.sort()
    for (_, end, first), (start, _, second) in itertools.pairwise(spans):
        if start < end:
            raise Unprocessable(f"`{first}` and `{second}` overlap.")
    if wrap is not None and len(spans) > 1 and spans[-1][1] - wrap > spans[0][0]:
        raise Unprocessable(f"`{spans[-1][2]}` and `{spans[0][2]}` overlap (across the end of the week).")


def check_opening_hours(hours: Sequence[OpeningHours]) -> list[OpeningHours]:
    """Validated weekly hours in week order (mon first, then by opening time)."""
    spans = []
    for i, h in enumerate(hours):
        start, end = interval(h.opens, h.closes, f"opening_hours[{i}]")
        offset = WEEKDAYS.index(h.day) * DAY_MINUTES
        spans.append((offset + start, offset + end, f"opening_hours[{i}]"))
    _overlap(spans, wrap=WEEK_MINUTES)
    return sorted(hours, key=lambda h: (WEEKDAYS.index(h.day), h.opens))


def check_special_hours(hours: Sequence[SpecialHours]) -> list[SpecialHours]:
    """Validated dated exceptions in date order: each is `closed` or has both times; a closed date has no
    other entry; no two intervals overlap (an overnight one included)."""
    spans = []
    closed_dates: dict[date, str] = {}
    for i, h in enumerate(hours):
        where = f"special_hours[{i}]"
        if h.closed:
            if h.opens is not None or h.closes is not None:
                raise Unprocessable(f"`{where}` is closed: give no `opens` or `closes`.")
            if h.date in closed_dates:
                raise Unprocessable(f"`{closed_dates[h.date]}` and `{where}` both give {h.date}.")
            closed_dates[h.date] = where
            continue
        if h.opens is None or h.closes is None:
            raise Unprocessable(f"`{where}` needs `opens` and `closes`, or `closed: true`.")
        start, end = interval(h.opens, h.closes, where)
        offset = h.date.toordinal() * DAY_MINUTES
        spans.append((offset + start, offset + end, where))
    for start, _, where in spans:
        day = date.fromordinal(start // DAY_MINUTES)
        if day in closed_dates:
            raise Unprocessable(f"`{closed_dates[day]}` says {day} is closed, but `{where}` gives hours that day.")
    _overlap(spans)
    return sorted(hours, key=lambda h: (h.date, h.opens or ""))


def day_intervals(
    day: date, opening_hours: Sequence[OpeningHours], special_hours: Sequence[SpecialHours]
) -> list[Interval] | None:
    """The intervals a store opens on `day` (dated exceptions replace the weekday's hours), or None when
    nothing is published for it."""
    special = [h for h in special_hours if h.date == day]
    if special:
        return [interval(h.opens, h.closes, "special_hours") for h in special if h.opens and h.closes]
    if not opening_hours:
        return None
    weekday = WEEKDAYS[day.weekday()]
    return [interval(h.opens, h.closes, "opening_hours") for h in opening_hours if h.day == weekday]


def is_open(
    at: datetime, timezone: str, opening_hours: Sequence[OpeningHours], special_hours: Sequence[SpecialHours]
) -> bool | None:
    """Whether the store is open at the instant `at`, judged on its own local wall clock; None when
    it publishes no hours for today (or yesterday's overnight)."""
    local = at.astimezone(ZoneInfo(timezone))
    minute = local.hour * 60 + local.minute
    today = day_intervals(local.date(), opening_hours, special_hours)
    yesterday = day_intervals(local.date() - timedelta(days=1), opening_hours, special_hours)
    if today is None and yesterday is None:
        return None
    if any(start <= minute < end for start, end in today or []):
        return True
    return any(minute < end - DAY_MINUTES for _, end in yesterday or [])
