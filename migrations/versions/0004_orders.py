"""Orders: placed from carts at checkout, with their lines and where each line is reserved.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from collections.abc import Sequence

from migrations.sql import run_script

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    run_script(
        """
        CREATE TABLE orders (
            id uuid PRIMARY KEY,
            number bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT uq_orders_number UNIQUE,
            cart_id varchar(64) NOT NULL,
            customer_id uuid,
            channel varchar(32) NOT NULL,
            status varchar(20) NOT NULL CONSTRAINT ck_orders_status CHECK (
                status IN ('placed', 'ready_for_pickup', 'collected', 'shipped', 'cancelled', 'expired')),
            currency varchar(3) NOT NULL,
            subtotal bigint NOT NULL,
            discount_total bigint NOT NULL,
            total bigint NOT NULL,
            email varchar(320),
            phone varchar(32),
            pickup_store varchar(64) REFERENCES stores (code),
            hold_until timestamptz,
            shipped_at timestamptz,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT ck_orders_pickup_hold CHECK ((pickup_store IS NULL) = (hold_until IS NULL))
        );
        -- One order per cart: a checkout retried without its idempotency key still cannot order twice.
        CREATE UNIQUE INDEX uq_orders_cart_id ON orders (cart_id);
        CREATE INDEX ix_orders_pickup_store ON orders (pickup_store, status, created_at) WHERE pickup_store IS NOT NULL;
        CREATE INDEX ix_orders_due ON orders (hold_until) WHERE status IN ('placed', 'ready_for_pickup');
        CREATE INDEX ix_orders_customer ON orders (customer_id, created_at DESC) WHERE customer_id IS NOT NULL;

        CREATE TABLE order_lines (
            order_id uuid NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
            line_no integer NOT NULL,
            sku varchar(64) NOT NULL REFERENCES variants (sku),
            title varchar(300),
            quantity integer NOT NULL CONSTRAINT ck_order_lines_quantity CHECK (quantity > 0),
            unit_price bigint NOT NULL,
            discount bigint NOT NULL,
            line_total bigint NOT NULL,
            promotion_id varchar(64),
            fulfillment varchar(8) NOT NULL CONSTRAINT ck_order_lines_fulfillment CHECK (fulfillment IN ('ship', 'pickup')),
            location varchar(64) NOT NULL REFERENCES stores (code),
            PRIMARY KEY (order_id, line_no)
        );
        """
    )


def downgrade() -> None:
    run_script("DROP TABLE order_lines, orders")
