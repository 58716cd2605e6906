"""Geodesy without I/O: parsing points, the search box around a point, exact distances."""

from __future__ import annotations

import math

from geopy.distance import geodesic

from commerce.errors import Unprocessable

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
