"""Promotions, customers and carts.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from collections.abc import Sequence

from migrations.sql import run_script

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    run_script(
        """
        CREATE TABLE promotions (
            id varchar(64) PRIMARY KEY,
            title varchar(300) NOT NULL,
            kind varchar(16) NOT NULL CONSTRAINT ck_promotions_kind CHECK (kind IN ('percent_off', 'amount_off')),
            -- percent_off: whole percent 1..100; amount_off: minor units off each unit, in `currency`.
            value bigint NOT NULL CONSTRAINT ck_promotions_value CHECK (value > 0),
            currency varchar(3),
            -- NULL skus and categories: the promotion applies to everything.
            skus varchar(64)[],
            categories varchar(120)[],
            code varchar(64),
            -- NULL: every channel.
            channels varchar(16)[],
            starts_at timestamptz,
            ends_at timestamptz,
            priority integer NOT NULL DEFAULT 0,
            killed_at timestamptz,
            override_reason text,
            override_by varchar(64),
            override_at timestamptz,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT ck_promotions_percent CHECK (kind <> 'percent_off' OR (value <= 100 AND currency IS NULL)),
            CONSTRAINT ck_promotions_amount_currency CHECK (kind <> 'amount_off' OR currency IS NOT NULL),
            CONSTRAINT ck_promotions_window CHECK (starts_at IS NULL OR ends_at IS NULL OR ends_at > starts_at)
        );
        -- Codes are case-insensitive and unique among promotions.
        CREATE UNIQUE INDEX uq_promotions_code ON promotions (lower(code)) WHERE code IS NOT NULL;

        CREATE TABLE customers (
            id uuid PRIMARY KEY,
            email varchar(320) CONSTRAINT uq_customers_email UNIQUE,
            phone varchar(32) CONSTRAINT uq_customers_phone UNIQUE,
            loyalty_id varchar(64) CONSTRAINT uq_customers_loyalty_id UNIQUE,
            created_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT ck_customers_identifier CHECK (coalesce(email, phone, loyalty_id) IS NOT NULL)
        );

        CREATE TABLE carts (
            id varchar(64) PRIMARY KEY,
            channel varchar(16) NOT NULL,
            customer_id uuid REFERENCES customers (id),
            currency varchar(3) NOT NULL DEFAULT 'USD' CONSTRAINT ck_carts_currency CHECK (currency ~ '^[A-Z]{3}$'),
            status varchar(16) NOT NULL DEFAULT 'active'
                CONSTRAINT ck_carts_status CHECK (status IN ('active', 'merged', 'checked_out')),
            codes varchar(64)[] NOT NULL DEFAULT '{}',
            version integer NOT NULL DEFAULT 1,
            -- Where a merged cart's lines went, so merging it again changes nothing.
            merged_into varchar(64) REFERENCES carts (id),
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        -- One active cart per customer: two devices creating it at once still get one.
        CREATE UNIQUE INDEX uq_carts_active_customer ON carts (customer_id) WHERE status = 'active';

        CREATE TABLE cart_lines (
            id bigserial PRIMARY KEY,
            cart_id varchar(64) NOT NULL REFERENCES carts (id) ON DELETE CASCADE,
            -- A variant removed from the catalog leaves the carts that held it.
            sku varchar(64) NOT NULL REFERENCES variants (sku) ON DELETE CASCADE,
            -- NULL: shipped; otherwise picked up at this store.
            pickup_store varchar(64) REFERENCES stores (code),
            quantity integer NOT NULL CONSTRAINT ck_cart_lines_quantity CHECK (quantity BETWEEN 1 AND 999),
            created_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT uq_cart_lines_cart_id_sku_pickup_store UNIQUE NULLS NOT DISTINCT (cart_id, sku, pickup_store)
        );
        CREATE INDEX ix_cart_lines_sku ON cart_lines (sku);
        """
    )


def downgrade() -> None:
    run_script("DROP TABLE cart_lines, carts, customers, promotions")
