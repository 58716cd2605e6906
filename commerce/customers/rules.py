"""Customer identifiers in one canonical form, so the same person is found from every channel."""

from __future__ import annotations

import re

from commerce.errors import Unprocessable

_PHONE_CHARS = re.compile(r"^\+?[0-9 ()./\-]+$")


def normalise_email(email: str) -> str:
    return email.strip().lower()


def normalise_phone(phone: str) -> str:
    """Keep digits and a leading `+`: "+1 (312) 555-0100" becomes "+13125550100"."""
    raw = phone.strip()
    if not _PHONE_CHARS.match(raw):
        raise Unprocessable(f"Phone {phone!r} may hold only digits, spaces, `+`, `-`, `.`, `/` and parentheses.")
    digits = "".join(ch for ch in raw if ch.isdigit())
    if not 5 <= len(digits) <= 20:
        raise Unprocessable(f"Phone {phone!r} needs 5 to 20 digits.")
    return ("+" if raw.startswith("+") else "") + digits


def normalise_loyalty_id(loyalty_id: str) -> str:
    return loyalty_id.strip()


def consent_changes(current: dict[str, bool], asked: dict[str, bool]) -> dict[str, bool]:
    """The consent channels that change: those asked for with another value than they have now (a new
    customer has none). Asking for what is already so changes nothing and is not logged."""
    return {channel: granted for channel, granted in asked.items() if granted != current.get(channel, False)}
