"""Inventory: stock quantities are 64-bit, so no run of adjustments, receipts or counts overflows them.

214 adjustments of +10,000,000 on one level passed the 32-bit `on_hand` and failed with a server
error. The levels and the ledger's quantities become bigint; each input stays bounded
(inventory/schemas.py, pos/rules.py) and `on_hand` is held under MAX_ON_HAND
(inventory/rules.py), so no sum reaches the 64-bit limit.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-27
"""

from collections.abc import Sequence

from migrations.sql import run_script

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    run_script(
        """
        ALTER TABLE inventory_levels
            ALTER COLUMN on_hand TYPE bigint,
            ALTER COLUMN reserved TYPE bigint,
            ALTER COLUMN safety_stock TYPE bigint;
        ALTER TABLE inventory_ledger
            ALTER COLUMN delta TYPE bigint,
            ALTER COLUMN reserved_delta TYPE bigint,
            ALTER COLUMN on_hand_after TYPE bigint,
            ALTER COLUMN reserved_after TYPE bigint;
        ANALYZE inventory_levels;
        """
    )


def downgrade() -> None:
    run_script(
        """
        ALTER TABLE inventory_ledger
            ALTER COLUMN delta TYPE integer,
            ALTER COLUMN reserved_delta TYPE integer,
            ALTER COLUMN on_hand_after TYPE integer,
            ALTER COLUMN reserved_after TYPE integer;
        ALTER TABLE inventory_levels
            ALTER COLUMN on_hand TYPE integer,
            ALTER COLUMN reserved TYPE integer,
            ALTER COLUMN safety_stock TYPE integer;
        """
    )
