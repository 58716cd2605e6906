"""Inventory: per-store levels, the append-only ledger, reservations.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

from migrations.sql import run_script

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    run_script(
        """
        CREATE TABLE inventory_levels (
            store_code varchar(64) NOT NULL REFERENCES stores (code),
            sku varchar(64) NOT NULL REFERENCES variants (sku),
            -- on_hand may go below zero: a till sells what the system did not know was there.
            on_hand integer NOT NULL DEFAULT 0,
            reserved integer NOT NULL DEFAULT 0 CONSTRAINT ck_inventory_levels_reserved CHECK (reserved >= 0),
            safety_stock integer NOT NULL DEFAULT 0
                CONSTRAINT ck_inventory_levels_safety_stock CHECK (safety_stock >= 0),
            -- Time of the latest stock count: events older than it do not move on_hand again.
            counted_at timestamptz,
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (store_code, sku)
        );
        -- "Which stores have this SKU": availability by sku across stores.
        CREATE INDEX ix_inventory_levels_sku ON inventory_levels (sku, store_code)
            INCLUDE (on_hand, reserved, safety_stock);

        CREATE TABLE inventory_ledger (
            id bigserial PRIMARY KEY,
            store_code varchar(64) NOT NULL,
            sku varchar(64) NOT NULL,
            delta integer NOT NULL,
            reserved_delta integer NOT NULL DEFAULT 0,
            reason varchar(32) NOT NULL,
            source varchar(100) NOT NULL,
            reference varchar(200),
            note text,
            on_hand_after integer NOT NULL,
            reserved_after integer NOT NULL,
            at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT fk_inventory_ledger_level FOREIGN KEY (store_code, sku)
                REFERENCES inventory_levels (store_code, sku)
        );
        CREATE INDEX ix_inventory_ledger_level ON inventory_ledger (store_code, sku, id DESC);

        CREATE TABLE reservations (
            id bigserial PRIMARY KEY,
            store_code varchar(64) NOT NULL,
            sku varchar(64) NOT NULL,
            quantity integer NOT NULL CONSTRAINT ck_reservations_quantity CHECK (quantity > 0),
            reference varchar(200) NOT NULL,
            status varchar(16) NOT NULL DEFAULT 'active'
                CONSTRAINT ck_reservations_status CHECK (status IN ('active', 'consumed', 'released')),
            expires_at timestamptz,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT fk_reservations_level FOREIGN KEY (store_code, sku)
                REFERENCES inventory_levels (store_code, sku)
        );
        CREATE INDEX ix_reservations_reference ON reservations (reference);
        CREATE INDEX ix_reservations_active_level ON reservations (store_code, sku) WHERE status = 'active';
        CREATE INDEX ix_reservations_active_expiry ON reservations (expires_at) WHERE status = 'active';
        """
    )


def downgrade() -> None:
    run_script("DROP TABLE reservations, inventory_ledger, inventory_levels")
