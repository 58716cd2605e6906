from __future__ import annotations

from commerce.customers.rules import consent_changes


def test_only_a_consent_that_differs_from_the_current_one_is_a_change() -> None:
    current = {"email": True, "sms": False}
    assert consent_changes(current, {"email": True, "sms": True}) == {"sms": True}
    assert consent_changes(current, {"email": False}) == {"email": False}
    assert consent_changes(current, {}) == {}
    assert consent_changes(current, {"email": True, "sms": False}) == {}


def test_a_new_customer_has_no_consent_so_only_grants_are_changes() -> None:
    assert consent_changes({}, {"email": True, "sms": False}) == {"email": True}
