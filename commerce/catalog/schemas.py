from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec

from commerce.decoding import MAX_JSON_DEPTH, depth
from commerce.money import Money
from commerce.schemas import Id

Sku = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-/]*$")]
ProductId = Id


class VariantIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    sku: Sku
    price: Money
    title: Annotated[str, msgspec.Meta(max_length=300)] | None = None
    barcode: Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z\-]+$")] | None = None
    options: dict[Annotated[str, msgspec.Meta(max_length=64)], Annotated[str, msgspec.Meta(max_length=200)]] = {}


class ProductIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=300)]
    variants: Annotated[list[VariantIn], msgspec.Meta(min_length=1, max_length=500)]
    description: Annotated[str, msgspec.Meta(max_length=20_000)] | None = None
    brand: Annotated[str, msgspec.Meta(max_length=120)] | None = None
    category: Annotated[str, msgspec.Meta(max_length=120)] | None = None
    attributes: Annotated[
        dict[str, Any], msgspec.Meta(description=f"Free-form JSON, nested at most {MAX_JSON_DEPTH} levels")
    ] = {}

    def __post_init__(self) -> None:
        if depth(self.attributes) > MAX_JSON_DEPTH:
            raise ValueError(f"`attributes` nests objects or arrays deeper than {MAX_JSON_DEPTH} levels")


class ProductImportLine(ProductIn, kw_only=True, forbid_unknown_fields=True):
    product_id: ProductId


class StoreAvailability(msgspec.Struct, frozen=True):
    store: str
    available: int


class VariantOut(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    sku: str
    product_id: str
    title: str | None
    barcode: str | None
    options: dict[str, str]
    price: Money
    availability: Annotated[
        list[StoreAvailability] | None,
        msgspec.Meta(description="Per-store availability; present when the listing is filtered by stores"),
    ] = None


class ProductOut(msgspec.Struct, frozen=True, kw_only=True):
    product_id: str
    title: str
    description: str | None
    brand: str | None
    category: str | None
    attributes: dict[str, Any]
    variants: list[VariantOut]
    updated_at: datetime


class ImportFailure(msgspec.Struct, frozen=True):
    line: int
    code: str
    detail: str


class ImportReport(msgspec.Struct, frozen=True):
    created: int
    updated: int
    failed: list[ImportFailure]
