"""Customer identifiers in one canonical form, so the same person is found from every channel."""

from __future__ import annotations

import re

import phonenumbers

from commerce.errors import Unprocessable

_PHONE_CHARS = re.compile(r"^\+?[0-9 ()./\-]+$")


def normalise_email(email: str) -> str:
    return email.strip().lower()


DEFAULT_PHONE_REGION = "US"
_default_region = DEFAULT_PHONE_REGION


def set_default_phone_region(region: str) -> None:
    """The region a phone written without a country code is read in (settings.default_phone_region)."""
    global _default_region
    _default_region = region.upper()


def e164(phone: str, region: str | None = None) -> str | None:
    """The number in E.164 (`+` and country code), reading a number without a country code as one of
    `region` (the configured default when None); None when it is not a valid number. The one phone
    normaliser: customers, till sales, imported orders and the ad exports all go through it."""
    try:
        number = phonenumbers.parse(phone, (region or _default_region).upper())
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_phone(phone: str, region: str | None = None) -> str:
    """A customer's phone in E.164: "(312) 555-0100" (in the US region) and "+1 312-555-0100" both
    become "+13125550100". Not a valid number: 422 `invalid_phone`."""
    raw = phone.strip()
    number = e164(raw, region) if _PHONE_CHARS.match(raw) else None
    if number is None:
        raise Unprocessable(
            f"Phone {phone!r} is not a valid number (digits, spaces, `+`, `-`, `.`, `/` and parentheses; a number "
            f"without a country code is read as one of {(region or _default_region)!r}).",
            code="invalid_phone",
        )
    return number


def normalise_loyalty_id(loyalty_id: str) -> str:
    return loyalty_id.strip()


def consent_changes(current: dict[str, bool], asked: dict[str, bool]) -> dict[str, bool]:
    """The consent channels that change: those asked for with another value than they have now (a new
    customer has none). Asking for what is already so changes nothing and is not logged."""
    return {channel: granted for channel, granted in asked.items() if granted != current.get(channel, False)}
