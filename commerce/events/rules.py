"""Webhook rules without I/O: which URLs may receive events, the signature, the feed's type filter."""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlsplit

from commerce.errors import Unprocessable
from commerce.events.schemas import EVENT_TYPES

SIGNATURE_HEADER = "X-Commerce-Signature"
SEQ_HEADER = "X-Commerce-Event-Seq"


def check_webhook_url(url: str) -> str:
    """A webhook URL is absolute http or https with a host."""
    try:
        parts = urlsplit(url)
        has_host = bool(parts.hostname)
    except ValueError:
        has_host = False
        parts = None
    if parts is None or parts.scheme not in {"http", "https"} or not has_host:
        raise Unprocessable(
            "`url` must be an absolute http:// or https:// URL with a host, e.g. https://example.com/hooks.",
            code="invalid_url",
        )
    return url


def sign(secret: str, body: bytes) -> str:
    """The `X-Commerce-Signature` value: HMAC-SHA256 of the exact body bytes, hex, with a scheme prefix."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def parse_types(raw: str | None) -> list[str] | None:
    """`types=T1,T2` of the feed: None means every type; an unknown type is 422."""
    if raw is None or not raw.strip():
        return None
    types = sorted({t.strip() for t in raw.split(",") if t.strip()})
    unknown = [t for t in types if t not in EVENT_TYPES]
    if unknown:
        raise Unprocessable(
            f"Unknown event type(s): {', '.join(unknown)}. Known types: {', '.join(sorted(EVENT_TYPES))}.",
            code="unknown_event_type",
        )
    return types
