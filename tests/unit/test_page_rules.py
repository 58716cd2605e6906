"""Rules of the public pages: GTINs, ETags, JSON-LD text, the pickup promise, label layout."""

from __future__ import annotations

import json
from datetime import date

import pytest

from commerce.errors import Unprocessable
from commerce.feeds.rules import feed_availability
from commerce.pages import label_sheet, links
from commerce.pages.rules import (
    SCHEMA_AVAILABILITY,
    barcode_spellings,
    etag,
    gtin14,
    gtin_check_digit,
    hours_text,
    json_ld_text,
    matches_etag,
    money_text,
    pickup_promise,
    schema_price,
    tel_uri,
    upcoming_special_hours,
    week_rows,
)
from commerce.stores.schemas import OpeningHours, SpecialHours


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("96385074", "00000096385074"),  # GTIN-8
        ("036000291452", "00036000291452"),  # GTIN-12 (UPC-A)
        ("4006381333931", "04006381333931"),  # GTIN-13 (EAN-13)
        ("10614141000415", "10614141000415"),  # GTIN-14
    ],
)
def test_every_gtin_length_compares_as_gtin_14(raw: str, expected: str) -> None:
    assert gtin14(raw) == expected


@pytest.mark.parametrize(
    "raw", ["4006381333932", "1234567", "123456789012345", "4006381３33931", "", "abcdefgh", "-4006381333931"]
)
def test_bad_gtins_are_refused(raw: str) -> None:
    with pytest.raises(Unprocessable) as caught:
        gtin14(raw)
    assert caught.value.code == "invalid_gtin"


def test_check_digit_by_the_gs1_algorithm() -> None:
    assert gtin_check_digit("400638133393") == 1
    assert gtin_check_digit("1061414100041") == 5
    assert gtin_check_digit("9638507") == 4


def test_a_gtin_14_is_looked_up_in_every_spelling_it_can_have() -> None:
    assert barcode_spellings("00000096385074") == ["00000096385074", "0000096385074", "000096385074", "96385074"]
    assert barcode_spellings("00036000291452") == ["00036000291452", "0036000291452", "036000291452"]
    assert barcode_spellings("04006381333931") == ["04006381333931", "4006381333931"]
    assert barcode_spellings("10614141000415") == ["10614141000415"]


def test_etags_are_strong_and_if_none_match_compares_weakly() -> None:
    tag = etag(b"page")
    assert tag.startswith('"') and tag.endswith('"') and tag != etag(b"page!")
    assert matches_etag(tag, tag) and matches_etag(f'"x", W/{tag}', tag) and matches_etag("*", tag)
    assert not matches_etag(None, tag) and not matches_etag('"x"', tag)


def test_json_ld_text_cannot_close_its_script_element() -> None:
    text = json_ld_text({"name": "</script><script>alert(1)</script> & more"})
    assert "</script>" not in text and "<" not in text and "&" not in text
    assert json.loads(text)["name"] == "</script><script>alert(1)</script> & more"


def test_schema_org_availability_follows_the_feed() -> None:
    assert SCHEMA_AVAILABILITY[feed_availability(0, 5)] == "https://schema.org/OutOfStock"
    assert SCHEMA_AVAILABILITY[feed_availability(5, 5)] == "https://schema.org/LimitedAvailability"
    assert SCHEMA_AVAILABILITY[feed_availability(6, 5)] == "https://schema.org/InStock"


def test_pickup_promise() -> None:
    assert pickup_promise(True, 120, "in_stock") == "Ready for pickup in 2 hours"
    assert pickup_promise(True, 45, "limited_availability") == "Ready for pickup in 45 minutes"
    assert pickup_promise(True, 90, "in_stock") == "Ready for pickup in 1 h 30 min"
    assert pickup_promise(True, 3 * 24 * 60, "in_stock") == "Ready for pickup in 3 days"
    assert pickup_promise(True, 60, "out_of_stock") is None
    assert pickup_promise(False, 60, "in_stock") is None


def test_prices_as_shown_and_as_schema_org_numbers() -> None:
    assert (
        money_text(1999, "USD") == "$19.99"
        and money_text(500, "JPY") == "¥500"
        and money_text(1234, "SEK") == "12.34 SEK"
    )
    assert (
        schema_price(1999, "USD") == "19.99"
        and schema_price(500, "JPY") == "500"
        and schema_price(1234, "KWD") == "1.234"
    )


def test_hours_as_shown() -> None:
    hours = [OpeningHours(day="mon", opens="09:00", closes="12:00"), OpeningHours(day="mon", opens="13:00", closes="17:00"),
             OpeningHours(day="fri", opens="22:00", closes="02:00")]  # fmt: skip
    rows = week_rows(hours, date(2026, 11, 27))  # a Friday
    assert rows[0] == ("Monday", "09:00–12:00, 13:00–17:00", False)
    assert rows[1] == ("Tuesday", "Closed", False)
    assert rows[4] == ("Friday", "22:00–02:00 (next day)", True)
    assert hours_text("09:00", "24:00") == "09:00–24:00"
    special = [SpecialHours(date=date(2026, 12, 25), closed=True), SpecialHours(date=date(2026, 11, 1), closed=True),
               SpecialHours(date=date(2027, 6, 1), opens="10:00", closes="14:00")]  # fmt: skip
    assert upcoming_special_hours(special, date(2026, 11, 27)) == [(date(2026, 12, 25), "Closed")]


def test_tel_uri() -> None:
    assert tel_uri("+1 (312) 555-0100") == "tel:+13125550100"
    assert tel_uri("030 1234 567") == "tel:0301234567"


def test_links_escape_codes_and_keep_the_placeholder() -> None:
    base = "https://shop.example.com"
    assert links.link_template(base, "A/B C") == "https://shop.example.com/stores/{store_code}/products/A%2FB%20C"
    assert links.digital_link(base, "04006381333931", "CHI-LOOP") == f"{base}/01/04006381333931?store=CHI-LOOP"
    assert links.product_page(base, "X&Y", "S") == f"{base}/stores/X%26Y/products/S"


def test_label_titles_wrap_to_three_lines_with_an_ellipsis() -> None:
    width, font, size = label_sheet.TEXT_W, label_sheet.TITLE_FONT, label_sheet.TITLE_SIZE
    lines = label_sheet.wrap("word " * 40, width, font, size, 3)
    assert len(lines) == 3 and lines[-1].endswith("…")
    assert label_sheet.wrap("Short", width, font, size, 3) == ["Short"]
    (long_word,) = label_sheet.wrap("x" * 200, width, font, size, 3)
    assert long_word.endswith("…") and len(long_word) < 200


def test_labels_fill_sheets_of_ten() -> None:
    spots = list(label_sheet.positions(12))
    assert [p for p, _, _ in spots] == [0] * 10 + [1] * 2
    assert spots[0][1:] == spots[10][1:]  # the 11th label sits where the first did, on the next sheet
    assert spots[1][1] > spots[0][1] and spots[2][2] > spots[0][2]


def test_pdf_text_keeps_latin_and_replaces_what_the_standard_fonts_cannot_show() -> None:
    assert label_sheet.pdf_text("Café – “Crème”") == "Café – “Crème”"
    assert label_sheet.pdf_text("Ｍug 日本") == "Mug ??"


def test_qr_rectangles_cover_exactly_the_dark_modules() -> None:
    import segno

    url = "https://shop.example.com/01/04006381333931?store=CHI-LOOP"
    size, rectangles = label_sheet.qr_rectangles(url)
    code = segno.make_qr(url, error="m", mask=label_sheet.QR_MASK)
    border = label_sheet.QR_BORDER
    dark = {(r + border, c + border) for r, row in enumerate(code.matrix) for c, v in enumerate(row) if v}
    covered = [(r + dr, c + dc) for r, c, w, h in rectangles for dr in range(h) for dc in range(w)]
    assert size == len(code.matrix) + 2 * border
    assert sorted(covered) == sorted(dark)  # every dark module once, nothing else


def test_public_url_setting_is_an_absolute_http_url() -> None:
    from commerce.settings import Settings

    assert (
        Settings.from_env({"COMMERCE_PUBLIC_URL": "https://shop.example.com/"}).public_url == "https://shop.example.com"
    )
    assert (
        Settings.from_env({"COMMERCE_PUBLIC_URL": "http://10.0.0.5:8000/store"}).public_url
        == "http://10.0.0.5:8000/store"
    )
    assert Settings.from_env({"COMMERCE_PUBLIC_URL": ""}).public_url is None
    assert Settings.from_env({}).public_url is None
    for bad in ("shop.example.com", "ftp://shop.example.com", "https://", "https://shop.example.com/?x=1"):
        with pytest.raises(ValueError, match="COMMERCE_PUBLIC_URL"):
            Settings.from_env({"COMMERCE_PUBLIC_URL": bad})
