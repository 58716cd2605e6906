"""Orders: orders imported from other systems (a web shop, a marketplace), with their backorders.

An imported order has no cart: it is identified by the system it came from and that system's id,
unique together, so importing it again finds the first one. `request_hash` is the fingerprint of
the import's body, to tell a retry (the same body) from another order reusing the pair. A line's
`backordered` units are those the named location could not reserve when the order arrived.

Revision ID: 0014
Revises: 0011
Create Date: 2026-11-27
"""

from collections.abc import Sequence

from migrations.sql import run_script

revision: str = "0014"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    run_script(
        """
        ALTER TABLE orders
            ALTER COLUMN cart_id DROP NOT NULL,
            ADD COLUMN source varchar(32),
            ADD COLUMN external_id varchar(255),
            ADD COLUMN request_hash varchar(64),
            ADD COLUMN placed_at timestamptz,
            ADD CONSTRAINT ck_orders_import CHECK (
                (source IS NULL) = (external_id IS NULL) AND (source IS NULL) = (request_hash IS NULL));
        UPDATE orders SET placed_at = created_at;
        ALTER TABLE orders ALTER COLUMN placed_at SET DEFAULT now(), ALTER COLUMN placed_at SET NOT NULL;
        -- One order per order of the other system: concurrent imports of the same order create one.
        CREATE UNIQUE INDEX uq_orders_source_external_id ON orders (source, external_id) WHERE source IS NOT NULL;

        ALTER TABLE order_lines ADD COLUMN backordered integer NOT NULL DEFAULT 0
            CONSTRAINT ck_order_lines_backordered CHECK (backordered BETWEEN 0 AND quantity);
        """
    )


def downgrade() -> None:
    run_script(
        """
        ALTER TABLE order_lines DROP COLUMN backordered;
        DELETE FROM orders WHERE cart_id IS NULL;
        DROP INDEX uq_orders_source_external_id;
        ALTER TABLE orders DROP CONSTRAINT ck_orders_import, DROP COLUMN source, DROP COLUMN external_id,
            DROP COLUMN request_hash, DROP COLUMN placed_at, ALTER COLUMN cart_id SET NOT NULL;
        """
    )
