"""The inbox never blocks on one delivery it cannot understand."""

from __future__ import annotations

from pathlib import Path

from adapters.config import parse_config
from adapters.shopify.adapter import ShopifyAdapter
from adapters.shopify.inbound import MAX_ATTEMPTS, apply_one

CONFIG = """
[commerce]
url = "http://127.0.0.1:9"
key = "k"
[state]
dir = "{state}"
[shopify]
shop_url = "http://127.0.0.1:9"
access_token = "t"
webhook_secret = "s"
[shopify.locations]
"S" = "gid://shopify/Location/1"
"""


async def test_a_malformed_delivery_is_retried_then_dead_lettered_and_the_next_one_goes_on(tmp_path: Path) -> None:
    adapter = ShopifyAdapter.build(parse_config(CONFIG.format(state=tmp_path), "cfg.toml", "shopify"))
    try:
        adapter.state.accept("shopify:1", "orders/create", b'{"no": "id"}')
        adapter.state.accept("shopify:2", "orders/create", b"[1, 2]")
        first, second = adapter.state.pending()
        results = [await apply_one(adapter, first) for _ in range(MAX_ATTEMPTS)]
        assert results == [False] * (MAX_ATTEMPTS - 1) + [True]
        assert await apply_one(adapter, second)  # not a JSON object: dead at once
        letters = {d.item.key: d for d in adapter.state.dead_letters()}
        assert (letters["shopify:1"].code, letters["shopify:1"].item.attempts) == ("error", MAX_ATTEMPTS)
        assert letters["shopify:2"].code == "invalid_payload"
        assert adapter.state.pending() == []
    finally:
        await adapter.aclose()
