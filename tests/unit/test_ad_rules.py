"""Identifier normalisation and hashing per network, click id checks, and the networks' field formats.

The examples are the networks' own: Google's Data Manager "Format user data" page
(developers.google.com/data-manager/api/devguides/concepts/formatting) and Meta's Conversions API
customer information parameters page (developers.facebook.com/docs/marketing-api/conversions-api/
parameters/customer-information-parameters).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone

import pytest

from commerce.ads import rules
from commerce.money import major_units

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
GCLID = "Cj0KCQiA1ZGcBhCoARIsAGQ0kkqP2k8q3Xb7_example-gclid"


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        # Google's published examples.
        ("cloudy.sanfrancisco+shopping@gmail.com", "cloudysanfrancisco@gmail.com"),
        ("user.name+NYC@Example.com", "user.name+nyc@example.com"),
        # Trimmed and lowercased; googlemail.com is treated like gmail.com.
        ("  Jane.Doe+promo@GoogleMail.com ", "janedoe@googlemail.com"),
        # A domain that only ends in gmail.com keeps its dots.
        ("a.b@notgmail.com", "a.b@notgmail.com"),
    ],
)
def test_google_email_removes_dots_and_plus_suffix_for_gmail_only(raw: str, normal: str) -> None:
    assert rules.google_email(raw) == normal


def test_meta_email_is_trimmed_and_lowercased_only() -> None:
    assert rules.meta_email("  Cloudy.SanFrancisco+Shopping@gmail.com ") == "cloudy.sanfrancisco+shopping@gmail.com"


def test_phone_normal_forms_differ_by_network() -> None:
    # Google's example: (800)555-0100 -> +18005550100. Meta's: (650)555-1212 -> 16505551212 (no '+').
    assert rules.google_phone("(800)555-0100", "US") == "+18005550100"
    assert rules.meta_phone("(650)555-1212", "US") == "16505551212"
    # A number with its country code ignores the default region; a leading trunk 0 goes.
    assert rules.google_phone("+44 020 7031 3000", "US") == "+442070313000"
    assert rules.meta_phone("020 7031 3000", "GB") == "442070313000"
    assert rules.google_phone("not a phone", "US") is None
    assert rules.meta_phone("+1 555", "US") is None


def test_hashes_are_sha256_hex_of_the_normal_form() -> None:
    # Published hash of person@example.com (lowercased from Person@Example.com).
    assert rules.hashed_email("meta", " Person@Example.com") == (
        "542d240129883c019e106e3b1b2d3f3cb3537c43c425364de8e951d5a3083345"
    )
    assert rules.hashed_email("google", "cloudy.sanfrancisco+shopping@gmail.com") == (
        hashlib.sha256(b"cloudysanfrancisco@gmail.com").hexdigest()
    )
    assert rules.hashed_phone("google", "(800)555-0100", "US") == hashlib.sha256(b"+18005550100").hexdigest()
    assert rules.hashed_phone("meta", "(650)555-1212", "US") == hashlib.sha256(b"16505551212").hexdigest()
    assert rules.hashed_email("google", None) is None
    assert rules.hashed_email("google", "no-at-sign") is None
    assert rules.hashed_phone("meta", "123", "US") is None
    assert len(rules.sha256_hex("x")) == 64


@pytest.mark.parametrize(
    ("network", "kind", "click_id", "at", "problem"),
    [
        ("google", "gclid", GCLID, NOW, None),
        ("google", "wbraid", GCLID, NOW - timedelta(days=365), None),
        ("meta", "fbclid", "IwAR2F4-dbP0l7Mn1IawQQGCINEz7PYXQvwjNwB_qa2ofrHyiLjcbCRxTDMgs", NOW, None),
        ("google", "gclid", GCLID, NOW + timedelta(minutes=4), None),  # clock skew
        ("google", "gclid", GCLID, NOW + timedelta(minutes=6), "future"),
        ("google", "gclid", GCLID, NOW - timedelta(days=400), "ago"),
        ("google", "fbclid", GCLID, NOW, "one of gclid"),
        ("meta", "gclid", GCLID, NOW, "one of fbclid"),
        ("tiktok", "gclid", GCLID, NOW, "Unknown network"),
        ("google", "gclid", "short", NOW, "characters long"),
        ("google", "gclid", "x" * 513, NOW, "characters long"),
        ("google", "gclid", "abc def ghi jkl", NOW, "letters, digits"),
        ("google", "gclid", "abc<script>x</script>", NOW, "letters, digits"),
    ],
)
def test_click_checks(network: str, kind: str, click_id: str, at: datetime, problem: str | None) -> None:
    found = rules.click_problem(network, kind, click_id, at, NOW)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found


def test_google_conversion_time_is_utc_with_its_offset() -> None:
    at = datetime(2026, 3, 1, 9, 30, 5, tzinfo=timezone(timedelta(hours=-5)))
    assert rules.google_conversion_time(at) == "2026-03-01 14:30:05+00:00"


def test_meta_fbc_carries_the_click_time_in_milliseconds() -> None:
    at = datetime(2019, 4, 8, 22, 49, 1, 205_000, tzinfo=UTC)
    assert rules.meta_fbc("AbCdEf", at) == f"fb.1.{int(at.timestamp() * 1000)}.AbCdEf"


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [(1999, "USD", "19.99"), (5, "EUR", "0.05"), (500, "JPY", "500"), (1234, "KWD", "1.234"), (-250, "USD", "-2.50")],
)
def test_major_units_use_integer_arithmetic(amount: int, currency: str, text: str) -> None:
    assert major_units(amount, currency) == text


def test_no_show_rate() -> None:
    assert rules.no_show_rate(0, 0) is None
    assert rules.no_show_rate(2, 1) == "0.3333"
    assert rules.no_show_rate(1, 2) == "0.6667"
    assert rules.no_show_rate(0, 3) == "1.0000"


def test_windows_come_from_settings_per_network() -> None:
    assert rules.window("google", 90, 28) == timedelta(days=90)
    assert rules.window("meta", 90, 28) == timedelta(days=28)
