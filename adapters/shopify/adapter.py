"""The Shopify adapter's working parts in one place: config, clients, durable state and the id maps."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from adapters.client import CommerceClient, RetryPolicy
from adapters.config import AdapterConfig, ShopifySection
from adapters.shopify.client import ShopifyClient
from adapters.state import AdapterState, IdMap

log = logging.getLogger("adapters.shopify")

RECENT_WRITES = 4


def level_key(item: str, location: str) -> str:
    return f"{item}|{location}"


class LevelBook:
    """What we know of Shopify's `available` per (item, location), durably: the last value Shopify
    reported or accepted (our `changeFromQuantity`), the values we wrote lately (to recognise their
    echo), and the newest `updated_at` applied from a webhook (to drop reordered older ones)."""

    def __init__(self, state: AdapterState) -> None:
        self.state = state
        doc = state.load("shopify_levels")
        self.known: dict[str, int] = {k: int(v) for k, v in doc.get("known", {}).items()}
        self.written: dict[str, list[int]] = {k: [int(x) for x in v] for k, v in doc.get("written", {}).items()}
        self.updated_at: dict[str, str] = dict(doc.get("updated_at", {}))

    def save(self) -> None:
        self.state.save("shopify_levels", {"known": self.known, "written": self.written, "updated_at": self.updated_at})

    def wrote(self, key: str, quantity: int) -> None:
        self.known[key] = quantity
        recent = self.written.setdefault(key, [])
        recent.append(quantity)
        del recent[:-RECENT_WRITES]

    def is_echo(self, key: str, available: int) -> bool:
        return available in self.written.get(key, [])


@dataclass
class ShopifyAdapter:
    config: AdapterConfig
    state: AdapterState
    commerce: CommerceClient
    shopify: ShopifyClient
    section: ShopifySection
    items: IdMap  # SKU -> InventoryItem gid
    levels: LevelBook
    wake_inbox: asyncio.Event = field(default_factory=asyncio.Event)
    missing_skus: dict[str, float] = field(default_factory=dict)  # SKU -> monotonic time it was found absent

    @classmethod
    def build(cls, config: AdapterConfig, *, retry: RetryPolicy | None = None) -> ShopifyAdapter:
        section = config.require_shopify()
        state = AdapterState(config.state_dir)
        return cls(
            config=config,
            state=state,
            commerce=CommerceClient(config.commerce.url, config.commerce.key, retry=retry),
            shopify=ShopifyClient(section.shop_url, section.access_token, retry=retry),
            section=section,
            items=state.id_map("sku_inventory_items"),
            levels=LevelBook(state),
        )

    async def aclose(self) -> None:
        await self.commerce.aclose()
        await self.shopify.aclose()

    @property
    def locations(self) -> dict[str, str]:
        """Store code -> Location gid, every mapped store."""
        return dict(self.section.locations)

    @property
    def stores_by_location(self) -> dict[str, str]:
        return {loc: store for store, loc in self.section.locations.items()}

    @property
    def pushed_stores(self) -> set[str]:
        """Stores whose stock this service keeps and Shopify mirrors."""
        return set(self.section.locations) - set(self.section.shopify_owned)

    @property
    def owned_locations(self) -> set[str]:
        """Location gids whose stock Shopify keeps."""
        return {self.section.locations[s] for s in self.section.shopify_owned}
