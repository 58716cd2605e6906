from __future__ import annotations

import pytest

from commerce.errors import Unprocessable
from commerce.inventory.rules import parse_codes


def test_codes_keep_their_order_and_drop_duplicates_and_blanks() -> None:
    assert parse_codes(" B,A, ,B,C ", "stores", 10) == ["B", "A", "C"]


def test_too_many_codes_is_refused_after_removing_duplicates() -> None:
    assert parse_codes("A,A,A", "stores", 1) == ["A"]
    with pytest.raises(Unprocessable, match="at most 2"):
        parse_codes("A,B,C", "stores", 2)


@pytest.mark.parametrize("raw", ["", ",", " , "])
def test_an_empty_list_is_refused_naming_the_parameter(raw: str) -> None:
    with pytest.raises(Unprocessable, match="available_at"):
        parse_codes(raw, "available_at", 5)


def test_a_code_longer_than_any_store_code_is_refused() -> None:
    with pytest.raises(Unprocessable, match="longer than 64"):
        parse_codes("A," + "x" * 65, "skus", 5)
