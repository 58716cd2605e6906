"""Foundation: stores, API keys, catalog, idempotency keys, the event outbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from collections.abc import Sequence

from migrations.sql import run_script

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    run_script(
        """
        CREATE TABLE stores (
            code varchar(64) PRIMARY KEY,
            name varchar(200) NOT NULL,
            kind varchar(16) NOT NULL CONSTRAINT ck_stores_kind CHECK (kind IN ('store', 'warehouse')),
            latitude double precision NOT NULL,
            longitude double precision NOT NULL,
            address text,
            timezone varchar(64) NOT NULL DEFAULT 'UTC',
            pickup_enabled boolean NOT NULL DEFAULT false,
            pickup_lead_minutes integer NOT NULL DEFAULT 60 CONSTRAINT ck_stores_pickup_lead CHECK (pickup_lead_minutes >= 0),
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT ck_stores_coordinates CHECK (latitude BETWEEN -90 AND 90 AND longitude BETWEEN -180 AND 180)
        );
        -- Nearby queries: a bounding box on this GiST index, then exact distance.
        CREATE INDEX ix_stores_location ON stores USING gist (point(longitude, latitude));

        CREATE TABLE api_keys (
            id uuid PRIMARY KEY,
            role varchar(16) NOT NULL
                CONSTRAINT ck_api_keys_role CHECK (role IN ('admin', 'storefront', 'pos', 'associate', 'ads')),
            store_code varchar(64) REFERENCES stores (code),
            key_hash varchar(64) NOT NULL CONSTRAINT uq_api_keys_key_hash UNIQUE,
            prefix varchar(16) NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            revoked_at timestamptz,
            CONSTRAINT ck_api_keys_store_binding CHECK ((role IN ('pos', 'associate')) = (store_code IS NOT NULL))
        );

        CREATE TABLE products (
            id varchar(64) PRIMARY KEY,
            title varchar(300) NOT NULL,
            description text,
            brand varchar(120),
            category varchar(120),
            attributes jsonb NOT NULL DEFAULT '{}',
            search tsvector GENERATED ALWAYS AS (
                to_tsvector('simple', coalesce(title, '') || ' ' || coalesce(brand, '') || ' ' ||
                coalesce(category, '') || ' ' || coalesce(description, ''))
            ) STORED,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX ix_products_search ON products USING gin (search);
        CREATE INDEX ix_products_category ON products (category);

        CREATE TABLE variants (
            sku varchar(64) PRIMARY KEY,
            product_id varchar(64) NOT NULL REFERENCES products (id) ON DELETE CASCADE,
            position integer NOT NULL DEFAULT 0,
            title varchar(300),
            barcode varchar(64) CONSTRAINT uq_variants_barcode UNIQUE,
            options jsonb NOT NULL DEFAULT '{}',
            price_amount bigint NOT NULL CONSTRAINT ck_variants_price_amount CHECK (price_amount >= 0),
            currency varchar(3) NOT NULL CONSTRAINT ck_variants_currency CHECK (currency ~ '^[A-Z]{3}$'),
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX ix_variants_product_id ON variants (product_id);

        CREATE TABLE idempotency_keys (
            principal varchar(64) NOT NULL,
            key varchar(255) NOT NULL,
            request_hash varchar(64) NOT NULL,
            status_code integer NOT NULL,
            body bytea NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (principal, key)
        );
        CREATE INDEX ix_idempotency_keys_created_at ON idempotency_keys (created_at);

        CREATE TABLE events (
            id bigserial PRIMARY KEY,
            seq bigint CONSTRAINT uq_events_seq UNIQUE,
            type varchar(64) NOT NULL,
            data jsonb NOT NULL,
            occurred_at timestamptz NOT NULL DEFAULT now()
        );
        -- The relay's work list: rows not yet numbered, in id order.
        CREATE INDEX ix_events_unsequenced ON events (id) WHERE seq IS NULL;
        """
    )


def downgrade() -> None:
    run_script("DROP TABLE events, idempotency_keys, variants, products, api_keys, stores")
