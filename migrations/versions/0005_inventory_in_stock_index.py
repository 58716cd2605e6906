"""Inventory: a partial index of the levels that have stock to promise.

Listings filtered by stores (`available_at`, `near`) probe "is this SKU available at one of these
stores" for every variant of every product they walk. The probe for an out-of-stock pair is a miss
in this index (index-only, no heap), which keeps listings fast for stores that carry little.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from collections.abc import Sequence

from migrations.sql import run_script

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    run_script(
        """
        CREATE INDEX ix_inventory_levels_in_stock ON inventory_levels (store_code, sku)
            WHERE on_hand - reserved - safety_stock >= 1;
        """
    )


def downgrade() -> None:
    run_script("DROP INDEX ix_inventory_levels_in_stock")
