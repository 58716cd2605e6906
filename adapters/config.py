"""The adapter's TOML config file: the keys API.md names (more are tolerated), validated at start.

Relative `state.dir` is taken relative to the config file, so a config and its state folder can
move together.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

import msgspec

Platform = Literal["shopify", "square"]

NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]
Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]


class ConfigError(Exception):
    """The config file is missing, unreadable, or a key is absent or wrong; the message says which."""


class CommerceSection(msgspec.Struct, frozen=True):
    url: NonEmpty
    key: NonEmpty


class ListenSection(msgspec.Struct, frozen=True):
    host: NonEmpty = "127.0.0.1"
    port: Port = 8710


class StateSection(msgspec.Struct, frozen=True):
    dir: NonEmpty


class ShopifySection(msgspec.Struct, frozen=True):
    shop_url: NonEmpty
    access_token: NonEmpty
    webhook_secret: NonEmpty
    locations: dict[str, NonEmpty]
    # Store codes (keys of `locations`) whose stock Shopify keeps, e.g. a 3PL warehouse: their
    # `inventory_levels/update` set our level, and our changes there are not pushed back.
    shopify_owned: list[str] = []


class SquareSection(msgspec.Struct, frozen=True):
    base_url: NonEmpty
    access_token: NonEmpty
    signature_key: NonEmpty
    notification_url: NonEmpty
    locations: dict[str, NonEmpty]


class AdapterConfig(msgspec.Struct, frozen=True):
    commerce: CommerceSection
    state: StateSection
    listen: ListenSection = ListenSection()
    shopify: ShopifySection | None = None
    square: SquareSection | None = None
    source: str = ""  # the file it was read from (set by load_config)

    @property
    def state_dir(self) -> Path:
        path = Path(self.state.dir)
        return path if path.is_absolute() or not self.source else Path(self.source).parent / path

    def require_shopify(self) -> ShopifySection:
        if self.shopify is None:
            raise ConfigError(f"{self.source}: the [shopify] section is missing")
        return self.shopify

    def require_square(self) -> SquareSection:
        if self.square is None:
            raise ConfigError(f"{self.source}: the [square] section is missing")
        return self.square


def _check_url(source: str, where: str, value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{source}: `{where}` must be an http(s) URL, got {value!r}")


def parse_config(text: str, source: str, platform: Platform | None = None) -> AdapterConfig:
    """Parse and validate config text; `platform` names the section that must be present."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    try:
        config = msgspec.convert(raw, AdapterConfig)
    except msgspec.ValidationError as exc:
        # msgspec says e.g. "Object missing required field `key` - at `$.commerce`"
        raise ConfigError(f"{source}: {exc}") from None
    config = msgspec.structs.replace(config, source=source)
    _check_url(source, "commerce.url", config.commerce.url)
    if platform == "shopify":
        section = config.require_shopify()
        _check_url(source, "shopify.shop_url", section.shop_url)
        if not section.locations:
            raise ConfigError(f"{source}: [shopify.locations] maps no store code to a location id")
        _check_unique(source, "shopify.locations", section.locations)
        unknown = [code for code in section.shopify_owned if code not in section.locations]
        if unknown:
            raise ConfigError(f"{source}: `shopify.shopify_owned` names stores not in [shopify.locations]: {unknown}")
    elif platform == "square":
        square = config.require_square()
        _check_url(source, "square.base_url", square.base_url)
        _check_url(source, "square.notification_url", square.notification_url)
        if not square.locations:
            raise ConfigError(f"{source}: [square.locations] maps no store code to a location id")
        _check_unique(source, "square.locations", square.locations)
    return config


def _check_unique(source: str, where: str, locations: dict[str, str]) -> None:
    seen: dict[str, str] = {}
    for store, location in locations.items():
        if location in seen:
            raise ConfigError(f"{source}: [{where}] maps both {seen[location]!r} and {store!r} to {location!r}")
        seen[location] = store


def load_config(path: str | Path, platform: Platform | None = None) -> AdapterConfig:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc.strerror}") from None
    return parse_config(text, str(path), platform)
