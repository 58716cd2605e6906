"""POS sync: every till event applied exactly once per (store, event id).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from collections.abc import Sequence

from migrations.sql import run_script

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    run_script(
        """
        -- One row per applied event: the primary key is what makes a replay a no-op.
        CREATE TABLE pos_events (
            store_code varchar(64) NOT NULL REFERENCES stores (code),
            event_id varchar(100) NOT NULL,
            type varchar(16) NOT NULL CONSTRAINT ck_pos_events_type CHECK (type IN ('sale', 'return', 'count', 'receipt')),
            occurred_at timestamptz NOT NULL,
            terminal_id varchar(100),
            loyalty_id varchar(100),
            -- [{sku, quantity, unit_price: {amount, currency} | null}] as the till sent them.
            lines jsonb NOT NULL,
            status varchar(16) NOT NULL DEFAULT 'applied' CONSTRAINT ck_pos_events_status CHECK (status IN ('applied')),
            received_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (store_code, event_id)
        );
        -- A customer's purchase history across channels, newest first.
        CREATE INDEX ix_pos_events_loyalty_id ON pos_events (loyalty_id, occurred_at, store_code, event_id)
            WHERE loyalty_id IS NOT NULL;

        -- When a change happened, when that differs from when it was recorded (a till's offline sale).
        -- A late stock count adds back what was recorded as happening after it.
        ALTER TABLE inventory_ledger ADD COLUMN occurred_at timestamptz;
        """
    )


def downgrade() -> None:
    run_script("DROP TABLE pos_events; ALTER TABLE inventory_ledger DROP COLUMN occurred_at")
