"""A small demo retailer in Chicago, so every endpoint can be tried at once. Loading it twice is harmless."""

from __future__ import annotations

import random

from sqlalchemy.ext.asyncio import AsyncSession

from commerce.catalog.schemas import ProductIn, VariantIn
from commerce.catalog.service import upsert_product
from commerce.inventory.rules import StockLine
from commerce.inventory.service import set_on_hand_many
from commerce.money import Money
from commerce.stores.schemas import OpeningHours, StoreIn
from commerce.stores.service import upsert_store

STORES = [
    ("CHI-LOOP", "State Street", "store", 41.8827, -87.6278, "108 N State St, Chicago, IL 60602"),
    ("CHI-LP", "Lincoln Park", "store", 41.9214, -87.6513, "2418 N Clark St, Chicago, IL 60614"),
    ("CHI-WP", "Wicker Park", "store", 41.9088, -87.6796, "1560 N Milwaukee Ave, Chicago, IL 60622"),
    ("CHI-HP", "Hyde Park", "store", 41.7943, -87.5907, "1500 E 53rd St, Chicago, IL 60615"),
    ("EVN", "Evanston", "store", 42.0451, -87.6877, "1700 Sherman Ave, Evanston, IL 60201"),
    ("OAKP", "Oak Park", "store", 41.8850, -87.7845, "1000 Lake St, Oak Park, IL 60301"),
    ("NAPV", "Naperville", "store", 41.7508, -88.1535, "55 S Main St, Naperville, IL 60540"),
    (
        "WH-ELK",
        "Elk Grove Distribution Center",
        "warehouse",
        42.0039,
        -87.9703,
        "1200 Busse Rd, Elk Grove Village, IL",
    ),
]

# Stores open 09:00-21:00 Monday to Saturday and 10:00-18:00 on Sunday.
STORE_HOURS = [
    OpeningHours(day=day, opens="09:00", closes="21:00") for day in ("mon", "tue", "wed", "thu", "fri", "sat")
] + [OpeningHours(day="sun", opens="10:00", closes="18:00")]

# (product id, title, brand, category, base price in cents, option name, option values)
PRODUCTS = [
    ("rain-jacket", "Packable Rain Jacket", "Northwind", "outerwear", 8900, "size", ["S", "M", "L", "XL"]),
    ("down-parka", "Down Parka", "Northwind", "outerwear", 24900, "size", ["S", "M", "L", "XL"]),
    ("fleece", "Grid Fleece Pullover", "Northwind", "outerwear", 6900, "size", ["S", "M", "L"]),
    ("tee-crew", "Organic Crew Tee", "Lakeside", "tops", 2400, "color", ["white", "black", "navy", "olive"]),
    ("oxford", "Oxford Shirt", "Lakeside", "tops", 5900, "size", ["S", "M", "L", "XL"]),
    ("hoodie", "Heavyweight Hoodie", "Lakeside", "tops", 6400, "color", ["grey", "black"]),
    ("chino", "Slim Chino", "Lakeside", "bottoms", 6900, "waist", ["30", "32", "34", "36"]),
    ("jeans", "Straight Selvedge Jeans", "Lakeside", "bottoms", 11800, "waist", ["30", "32", "34", "36"]),
    ("runner", "Trail Runner", "Stride", "footwear", 12900, "size", ["8", "9", "10", "11", "12"]),
    ("sneaker", "Court Sneaker", "Stride", "footwear", 8900, "size", ["8", "9", "10", "11"]),
    ("boot", "Waterproof Chelsea Boot", "Stride", "footwear", 17900, "size", ["8", "9", "10", "11"]),
    ("sock-3", "Merino Socks 3-Pack", "Stride", "accessories", 2900, "size", ["M", "L"]),
    ("beanie", "Rib Beanie", "Northwind", "accessories", 2200, "color", ["black", "rust", "grey"]),
    ("gloves", "Touchscreen Gloves", "Northwind", "accessories", 3400, "size", ["S/M", "L/XL"]),
    ("scarf", "Lambswool Scarf", "Northwind", "accessories", 4500, "color", ["camel", "charcoal"]),
    ("backpack", "Commuter Backpack 20L", "Carry Co", "bags", 9900, "color", ["black", "sand"]),
    ("tote", "Canvas Tote", "Carry Co", "bags", 2800, "color", ["natural", "black"]),
    ("duffel", "Weekender Duffel", "Carry Co", "bags", 13900, "color", ["olive", "black"]),
    ("bottle", "Insulated Bottle 750ml", "Carry Co", "outdoor", 3200, "color", ["steel", "blue", "green"]),
    ("headlamp", "Rechargeable Headlamp", "Lumen", "outdoor", 4900, "color", ["black"]),
    ("tent-2p", "Two-Person Tent", "Lumen", "outdoor", 29900, "color", ["green"]),
    ("sleeping-bag", "3-Season Sleeping Bag", "Lumen", "outdoor", 17900, "length", ["regular", "long"]),
    ("earbuds", "Wireless Earbuds", "Sonic", "electronics", 12900, "color", ["black", "white"]),
    ("speaker", "Portable Speaker", "Sonic", "electronics", 7900, "color", ["black", "red"]),
    ("charger", "65W USB-C Charger", "Sonic", "electronics", 3900, "plug", ["US"]),
    ("powerbank", "Power Bank 10000mAh", "Sonic", "electronics", 4400, "color", ["black"]),
    ("mug", "Stoneware Mug", "Hearth", "home", 1800, "color", ["cream", "slate"]),
    ("candle", "Cedar Candle", "Hearth", "home", 2600, "size", ["small", "large"]),
    ("throw", "Wool Throw Blanket", "Hearth", "home", 8900, "color", ["oat", "forest"]),
    ("french-press", "French Press 1L", "Hearth", "home", 3900, "color", ["steel"]),
]


def ean13(n: int) -> str:
    """A valid EAN-13 in the GS1 'restricted circulation' range (200-299), so it clashes with no real one."""
    body = f"2{n:011d}"
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


async def load_demo(db: AsyncSession) -> str:
    for i, (code, name, kind, lat, lon, address) in enumerate(STORES):
        await upsert_store(
            db,
            code,
            StoreIn(
                name=name,
                kind=kind,  # type: ignore[arg-type]
                latitude=lat,
                longitude=lon,
                address=address,
                timezone="America/Chicago",
                pickup_enabled=kind == "store",
                pickup_lead_minutes=60 if kind == "store" else 0,
                phone=f"+1 312 555 01{i:02d}",
                opening_hours=STORE_HOURS if kind == "store" else [],
            ),
        )
    skus: list[str] = []
    n = 0
    for pid, title, brand, category, price, option, values in PRODUCTS:
        variants = []
        for value in values:
            n += 1
            sku = f"{pid}-{value}".upper().replace("/", "").replace(" ", "")
            skus.append(sku)
            variants.append(
                VariantIn(
                    sku=sku,
                    title=f"{title} / {value}",
                    barcode=ean13(n),
                    options={option: value},
                    price=Money(price, "USD"),
                )
            )
        await upsert_product(
            db,
            pid,
            ProductIn(
                title=title,
                brand=brand,
                category=category,
                description=f"{brand} {title.lower()}.",
                variants=variants,
            ),
        )
    stocked = await stock_demo(db, skus)
    return f"{len(STORES)} locations, {len(PRODUCTS)} products, {len(skus)} SKUs, {stocked} stock levels"


async def stock_demo(db: AsyncSession, skus: list[str]) -> int:
    """Stock levels for the demo (deterministic)."""
    rng = random.Random(42)
    rows = [
        StockLine(code, sku, rng.choice([0, 0, 1, 2, 3, 5, 8, 12, 20]) if kind == "store" else rng.randint(20, 200))
        for code, _, kind, *_ in STORES
        for sku in skus
    ]
    await set_on_hand_many(db, rows, reason="correction", source="demo", reference="demo")
    return len(rows)
