from __future__ import annotations

import hashlib
import hmac

import pytest

from commerce.errors import Unprocessable
from commerce.events.rules import check_webhook_url, parse_types, sign
from commerce.feeds.rules import feed_availability, pickup_method, pickup_sla, price_text, tsv_field


@pytest.mark.parametrize(
    ("available", "expected"),
    [(0, "out_of_stock"), (1, "limited_availability"), (5, "limited_availability"), (6, "in_stock")],
)
def test_availability_is_limited_up_to_the_low_stock_threshold(available, expected) -> None:
    assert feed_availability(available, low_stock_threshold=5) == expected


def test_price_text_uses_the_currency_minor_units() -> None:
    assert price_text(1999, "USD") == "19.99 USD"
    assert price_text(5, "EUR") == "0.05 EUR"
    assert price_text(0, "GBP") == "0.00 GBP"
    assert price_text(500, "JPY") == "500 JPY"
    assert price_text(1234, "KWD") == "1.234 KWD"


@pytest.mark.parametrize(
    ("lead_minutes", "sla"),
    [
        (0, "same day"),
        (120, "same day"),
        (1439, "same day"),
        (1440, "next day"),
        (3 * 1440, "3-day"),
        (9 * 1440, "multi-week"),
    ],
)
def test_pickup_sla_follows_the_lead_time(lead_minutes, sla) -> None:
    assert pickup_sla(True, lead_minutes) == sla


def test_a_store_without_pickup_has_no_pickup_method_or_sla() -> None:
    assert pickup_method(False) == "not supported"
    assert pickup_sla(False, 60) is None
    assert pickup_method(True) == "buy"


def test_tsv_fields_stay_on_one_line() -> None:
    assert tsv_field("a\tb\nc\\d\r") == "a\\tb\\nc\\\\d\\r"
    assert tsv_field(None) == ""
    assert tsv_field(3) == "3"


def test_signature_is_hmac_sha256_of_the_exact_body() -> None:
    body = b'{"seq":1}'
    assert sign("k" * 16, body) == "sha256=" + hmac.new(b"k" * 16, body, hashlib.sha256).hexdigest()
    assert sign("k" * 16, body) != sign("k" * 16, body + b" ")


@pytest.mark.parametrize("url", ["https://erp.example/hooks", "http://127.0.0.1:8080/x?y=1"])
def test_http_and_https_urls_are_accepted(url) -> None:
    assert check_webhook_url(url) == url


@pytest.mark.parametrize("url", ["ftp://erp.example", "erp.example/hooks", "https://", "mailto:a@b.c", "http://[::1"])
def test_other_urls_are_refused(url) -> None:
    with pytest.raises(Unprocessable):
        check_webhook_url(url)


def test_feed_types_are_checked_against_the_known_ones() -> None:
    assert parse_types(None) is None
    assert parse_types("order.placed, inventory.changed,order.placed") == ["inventory.changed", "order.placed"]
    with pytest.raises(Unprocessable):
        parse_types("inventory.changed,inventory.exploded")
