from __future__ import annotations

import pytest
from geopy.distance import geodesic
from hypothesis import given
from hypothesis import strategies as st

from commerce.errors import Unprocessable
from commerce.stores import rules

lat = st.floats(-89.0, 89.0)
lon = st.floats(-180.0, 180.0)


@given(lat, lon, st.floats(0.5, 500.0), st.floats(0, 1), st.floats(0, 360))
def test_every_point_within_radius_falls_in_a_search_box(
    lat0: float, lon0: float, radius: float, frac: float, bearing: float
) -> None:
    target = geodesic(kilometers=radius * frac).destination((lat0, lon0), bearing)
    boxes = rules.search_boxes(lat0, lon0, radius)
    assert any(x1 <= target.longitude <= x2 and y1 <= target.latitude <= y2 for x1, y1, x2, y2 in boxes)


@given(lat, lon, lat, lon)
def test_haversine_is_within_the_sql_margin_of_geodesic(a: float, b: float, c: float, d: float) -> None:
    true_km = geodesic((a, b), (c, d)).km
    if true_km > 1:
        assert rules.haversine_km(a, b, c, d) <= true_km * rules.SPHERE_MARGIN
        assert rules.haversine_km(a, b, c, d) * rules.SPHERE_MARGIN >= true_km


@given(lat, lon, lat, lon)
def test_store_distances_are_within_a_thousandth_of_the_exact_geodesic(a: float, b: float, c: float, d: float) -> None:
    exact = geodesic((a, b), (c, d)).km
    assert abs(rules.geodesic_km(a, b, c, d) - exact) <= max(exact * 0.001, 0.001)


def test_parse_point_accepts_lat_lon() -> None:
    assert rules.parse_point("41.88,-87.63") == (41.88, -87.63)


@pytest.mark.parametrize("raw", ["", "1", "a,b", "91,0", "0,-181", "nan,0", "1,2,3"])
def test_parse_point_rejects_bad_input(raw: str) -> None:
    with pytest.raises(Unprocessable):
        rules.parse_point(raw)
