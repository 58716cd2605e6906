"""Pure rules of the ads context: click id formats, identifier normalisation and hashing per network,
and the networks' field formats. No I/O.

Normalisation follows each network's published rules:
- Google (Data Manager "Format user data"; Google Ads enhanced conversions): email trimmed and
  lowercased, and only for gmail.com and googlemail.com the dots of the local part and a `+suffix`
  removed; phone in E.164 with the `+` and country code. SHA-256, hex.
- Meta (Conversions API customer information parameters): email trimmed and lowercased; phone digits
  only, with the country code, no `+` and no leading zeros. SHA-256, hex.
"""

from __future__ import annotations

import functools
import hashlib
import re
from datetime import UTC, datetime, timedelta
from typing import Literal

from commerce.customers.rules import e164

Network = Literal["google", "meta"]
ClickIdType = Literal["gclid", "gbraid", "wbraid", "fbclid"]

CLICK_ID_TYPES: dict[str, tuple[ClickIdType, ...]] = {
    "google": ("gclid", "gbraid", "wbraid"),
    "meta": ("fbclid",),
}
# Click ids are URL parameters made of URL-safe base64 characters. Real ones run from a few dozen to
# a couple of hundred characters; anything outside this is not a click id.
MIN_CLICK_ID_LENGTH = 10
MAX_CLICK_ID_LENGTH = 512
_CLICK_ID = re.compile(r"[A-Za-z0-9_\-]+")
# A click reported with a time a little ahead of ours is clock skew, not a click from the future.
CLOCK_SKEW = timedelta(minutes=5)
# A click older than the longest attribution window any network offers can never be exported.
MAX_CLICK_AGE = timedelta(days=366)

_GOOGLE_CANONICAL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})


def click_problem(network: str, click_id_type: str, click_id: str, clicked_at: datetime, now: datetime) -> str | None:
    """Why this click cannot be recorded, or None when it can."""
    types = CLICK_ID_TYPES.get(network)
    if types is None:
        return f"Unknown network {network!r}; one of {', '.join(sorted(CLICK_ID_TYPES))}."
    if click_id_type not in types:
        return f"A {network} click id is one of {', '.join(types)}, not {click_id_type!r}."
    if not MIN_CLICK_ID_LENGTH <= len(click_id) <= MAX_CLICK_ID_LENGTH:
        return f"A {click_id_type} is {MIN_CLICK_ID_LENGTH} to {MAX_CLICK_ID_LENGTH} characters long."
    if _CLICK_ID.fullmatch(click_id) is None:
        return f"A {click_id_type} holds only letters, digits, '-' and '_'."
    if clicked_at.tzinfo is None:
        return "clicked_at needs an offset (RFC 3339)."
    if clicked_at > now + CLOCK_SKEW:
        return "clicked_at is in the future."
    if clicked_at < now - MAX_CLICK_AGE:
        return f"clicked_at is more than {MAX_CLICK_AGE.days} days ago."
    return None


def default_click_id_type(network: str) -> ClickIdType:
    """What a click id of the network is when the client does not say: gclid, fbclid."""
    return "fbclid" if network == "meta" else "gclid"


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def google_email(email: str) -> str:
    """Google's normal form: trim, lowercase; for gmail.com and googlemail.com only, no dots in the
    local part and no `+suffix`."""
    normal = email.strip().lower()
    local, at, domain = normal.rpartition("@")
    if at and domain in _GOOGLE_CANONICAL_DOMAINS:
        local = local.split("+", 1)[0].replace(".", "")
        normal = f"{local}@{domain}"
    return normal


def meta_email(email: str) -> str:
    """Meta's normal form: trim, lowercase."""
    return email.strip().lower()


def google_phone(phone: str, region: str) -> str | None:
    """Google's normal form: E.164 with the `+`."""
    return e164(phone, region)


def meta_phone(phone: str, region: str) -> str | None:
    """Meta's normal form: country code and number, digits only (E.164 without the `+`)."""
    number = e164(phone, region)
    return number[1:] if number else None


def hashed_email(network: Network, email: str | None) -> str | None:
    if not email or "@" not in email:
        return None
    return sha256_hex(google_email(email) if network == "google" else meta_email(email))


# Parsing a phone number is the slow step of an export (about 0.1 ms); repeat customers hit this bounded cache.
@functools.lru_cache(maxsize=16_384)
def hashed_phone(network: Network, phone: str | None, region: str) -> str | None:
    if not phone:
        return None
    normal = google_phone(phone, region) if network == "google" else meta_phone(phone, region)
    return sha256_hex(normal) if normal else None


def google_conversion_time(at: datetime) -> str:
    """Google's click-conversion time with its offset, `yyyy-mm-dd hh:mm:ss+hh:mm`, in UTC."""
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S+00:00")


def meta_fbc(fbclid: str, clicked_at: datetime) -> str:
    """Meta's click id parameter: `fb.1.{time the click was seen, unix ms}.{fbclid}`."""
    millis = int(clicked_at.timestamp()) * 1000 + clicked_at.microsecond // 1000
    return f"fb.1.{millis}.{fbclid}"


def window(network: Network, google_days: int, meta_days: int) -> timedelta:
    """How long after a click a purchase still counts as its conversion."""
    return timedelta(days=google_days if network == "google" else meta_days)


def no_show_rate(collected: int, expired: int) -> str | None:
    """Expired over collected plus expired pickup orders, as a decimal string with 4 places (None without
    any); integer arithmetic, rounded half up."""
    total = collected + expired
    if total == 0:
        return None
    scaled = (expired * 10**5 // total + 5) // 10
    return f"{scaled // 10**4}.{scaled % 10**4:04d}"
