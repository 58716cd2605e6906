from __future__ import annotations

import pytest

from commerce.carts.rules import add_code, merge_codes, parse_if_match, without_code
from commerce.errors import BadRequest
from commerce.inventory.rules import LocationStock, ship_source


def test_if_match_accepts_quoted_weak_and_bare_versions() -> None:
    assert parse_if_match('"3"') == 3
    assert parse_if_match('W/"12"') == 12
    assert parse_if_match("7") == 7
    assert parse_if_match(None) is None
    assert parse_if_match("*") is None
    with pytest.raises(BadRequest):
        parse_if_match('"abc"')


@pytest.mark.parametrize("header", ['"2147483648"', '"9223372036854775808"', '"\u00b2"', '"\u0663"', '"-1"', '"1.0"'])
def test_if_match_refuses_what_no_cart_version_can_be(header: str) -> None:
    with pytest.raises(BadRequest):
        parse_if_match(header)
    assert parse_if_match('"2147483647"') == 2**31 - 1


def test_codes_are_kept_once_whatever_their_case() -> None:
    assert add_code(["SAVE10"], "save10") == ["SAVE10"]
    assert merge_codes(["A1B"], ["a1b", "C2D"]) == ["A1B", "C2D"]
    assert without_code(["SAVE10", "X"], "Save10") == ["X"]


def test_ship_source_prefers_the_warehouse_with_most_even_if_a_store_has_more() -> None:
    levels = [
        LocationStock("STORE-1", "store", 50),
        LocationStock("WH-2", "warehouse", 3),
        LocationStock("WH-1", "warehouse", 8),
    ]
    assert ship_source(levels) == LocationStock("WH-1", "warehouse", 8)


def test_ship_source_falls_back_to_the_store_with_most() -> None:
    levels = [LocationStock("WH-1", "warehouse", 0), LocationStock("B", "store", 4), LocationStock("A", "store", 4)]
    assert ship_source(levels) == LocationStock("A", "store", 4)
    assert ship_source([LocationStock("WH-1", "warehouse", 0)]) is None


def test_ship_source_takes_a_warehouse_that_can_ship_the_whole_line() -> None:
    levels = [
        LocationStock("S1", "store", 50),
        LocationStock("W2", "warehouse", 3),
        LocationStock("W1", "warehouse", 9),
    ]
    assert ship_source(levels, 5) == levels[2]
    assert ship_source(levels, 3) == levels[2]  # most available among the warehouses that can


def test_ship_source_uses_a_store_when_no_warehouse_has_enough() -> None:
    levels = [LocationStock("W1", "warehouse", 2), LocationStock("S2", "store", 4), LocationStock("S1", "store", 9)]
    assert ship_source(levels, 4) == levels[2]
    # Nobody has 10: the best on offer is shown (checkout reports the line short).
    assert ship_source(levels, 10) == levels[2]


def test_ship_source_picks_the_nearest_when_the_destination_is_known() -> None:
    levels = [LocationStock("W1", "warehouse", 99, 800.0), LocationStock("W2", "warehouse", 5, 40.0)]
    assert ship_source(levels, 5) == levels[1]
    assert ship_source(levels, 6) == levels[0]


def test_only_staff_name_a_new_carts_customer_and_a_customer_tokens_cart_is_its_own() -> None:
    import uuid

    from commerce.auth.schemas import Principal
    from commerce.carts.rules import cart_owner
    from commerce.errors import Forbidden

    ana, bo = uuid.uuid4(), uuid.uuid4()
    token = Principal(key_id="t", role="customer", customer_id=ana)
    assert cart_owner(token, None) == ana
    assert cart_owner(token, ana) == ana
    with pytest.raises(Forbidden):
        cart_owner(token, bo)
    for role in ("admin", "associate"):
        assert cart_owner(Principal(key_id="k", role=role, store="S1"), bo) == bo
    for role in ("storefront", "pos", "ads", "integration"):
        assert cart_owner(Principal(key_id="k", role=role), None) is None
        with pytest.raises(Forbidden):
            cart_owner(Principal(key_id="k", role=role), bo)
