"""`POST /webhooks/square`: verify, store durably, answer; the apply loop does the rest.

Square signs each notification with the subscription's signature key: `x-square-hmacsha256-signature`
is base64(HMAC-SHA256(key, notification URL + raw body)), the URL exactly as registered in the
subscription. A notification with a bad or missing signature is 401 and is not stored. Square may
deliver a notification more than once; `event_id` is the dedup key, so a repeat is answered 200 and
stored once.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from typing import Any

import msgspec

from adapters.state import AdapterState

ORDER_TOPICS = ("order.created", "order.updated")
REFUND_TOPICS = ("refund.created", "refund.updated")
COUNT_TOPIC = "inventory.count.updated"
TOPICS = (*ORDER_TOPICS, *REFUND_TOPICS, COUNT_TOPIC)


def signature(signature_key: str, notification_url: str, body: bytes) -> str:
    digest = hmac.new(signature_key.encode(), notification_url.encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def signature_valid(signature_key: str, notification_url: str, body: bytes, given: str | None) -> bool:
    if not given:
        return False
    expected = signature(signature_key, notification_url, body)
    return hmac.compare_digest(expected.encode(), given.strip().encode())


def delivery_key(event_id: str) -> str:
    return f"square:{event_id}"


class SquareReceiver:
    """The webhook endpoint's logic: (lower-cased headers, raw body) -> (status, JSON body)."""

    def __init__(self, state: AdapterState, signature_key: str, notification_url: str, wake: asyncio.Event) -> None:
        self.state, self.signature_key, self.notification_url, self.wake = state, signature_key, notification_url, wake

    async def __call__(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        if not signature_valid(
            self.signature_key, self.notification_url, body, headers.get("x-square-hmacsha256-signature")
        ):
            return 401, {"error": "invalid_signature", "detail": "x-square-hmacsha256-signature does not match."}
        try:
            payload = msgspec.json.decode(body)
        except msgspec.DecodeError:
            return 400, {"error": "invalid_json"}
        event_id = payload.get("event_id") if isinstance(payload, dict) else None
        topic = payload.get("type") if isinstance(payload, dict) else None
        if not isinstance(event_id, str) or not event_id or not isinstance(topic, str):
            return 400, {"error": "invalid_event", "detail": "A notification names its `type` and `event_id`."}
        if topic not in TOPICS:
            return 200, {"status": "ignored"}
        # Stored (fsynced) before the answer, in a thread so other deliveries are answered meanwhile.
        accepted = await asyncio.to_thread(self.state.accept, delivery_key(event_id), topic, body)
        self.wake.set()
        return 200, {"status": "accepted" if accepted else "duplicate"}
