"""`commerce adapter shopify --config FILE`: the daemon's loops and its start."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from adapters.client import RetryPolicy
from adapters.config import AdapterConfig
from adapters.server import Daemon, run_loop_forever, serve_daemon
from adapters.shopify.adapter import ShopifyAdapter
from adapters.shopify.inbound import apply_pending, receive
from adapters.shopify.outbound import FEED_TYPES, sync_once

log = logging.getLogger("adapters.shopify.daemon")

FEED_IDLE_POLL = 0.25  # seconds between feed reads when nothing is new
INBOX_POLL = 1.0  # a replayed dead letter (written by another process) is seen within this
DONE_RETENTION = 7 * 24 * 3600.0  # Shopify redelivers for 4 hours; remember applied deliveries for a week


async def follow_feed(adapter: ShopifyAdapter) -> None:
    if await sync_once(adapter) == 0:
        await asyncio.sleep(FEED_IDLE_POLL)


async def drain_inbox(adapter: ShopifyAdapter) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(adapter.wake_inbox.wait(), INBOX_POLL)
    adapter.wake_inbox.clear()
    pending = len(adapter.state.pending())
    if pending and await apply_pending(adapter) < pending:
        await asyncio.sleep(2.0)  # our API or Shopify is unavailable; the delivery waits in the inbox


async def prune(adapter: ShopifyAdapter) -> None:
    removed = adapter.state.prune_done(DONE_RETENTION)
    if removed:
        log.info("forgot old applied deliveries", extra={"removed": removed})
    await asyncio.sleep(3600)


def make_daemon(adapter: ShopifyAdapter) -> Daemon:
    async def receiver(headers: dict[str, str], body: bytes) -> tuple[int, dict[str, object]]:
        return await receive(adapter, headers, body)

    return Daemon(
        platform="shopify",
        state=adapter.state,
        commerce=adapter.commerce,
        receiver=receiver,
        loops=[
            lambda: run_loop_forever("feed", lambda: follow_feed(adapter), pause=1.0),
            lambda: run_loop_forever("inbox", lambda: drain_inbox(adapter), pause=1.0),
            lambda: run_loop_forever("prune", lambda: prune(adapter), pause=60.0),
        ],
        feed_types=FEED_TYPES,
        extra_health=lambda: {
            "sku_cache": len(adapter.items.values),
            "shopify_calls": adapter.shopify.calls,
            "shopify_bucket_available": round(adapter.shopify.bucket.now_available(), 1),
        },
    )


async def run(config: AdapterConfig, *, retry: RetryPolicy | None = None, started: asyncio.Event | None = None) -> None:
    adapter = ShopifyAdapter.build(config, retry=retry)
    try:
        await serve_daemon(make_daemon(adapter), config.listen.host, config.listen.port, started=started)
    finally:
        await adapter.aclose()
