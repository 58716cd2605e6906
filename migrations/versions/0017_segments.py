"""Segments, customer profiles, targeted promotions, redemption limits and single-use codes.

Revision ID: 0017
Revises: 0012
Create Date: 2026-11-27
"""

from collections.abc import Sequence

from migrations.sql import run_script

revision: str = "0017"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    run_script(
        """
        -- A customer's facts across every channel, summarised from their orders and till sales.
        CREATE TABLE customer_profiles (
            customer_id uuid PRIMARY KEY REFERENCES customers (id) ON DELETE CASCADE,
            orders_count integer NOT NULL DEFAULT 0,
            -- {currency: minor units}: spend net of returns, per currency.
            lifetime_values jsonb NOT NULL DEFAULT '{}',
            first_order_at timestamptz,
            last_order_at timestamptz,
            -- {channel: orders}
            channels jsonb NOT NULL DEFAULT '{}',
            -- {store code: visits}
            store_visits jsonb NOT NULL DEFAULT '{}',
            last_store_visit_store varchar(64),
            last_store_visit_at timestamptz,
            -- What the customer holds (net of returns and cancellations).
            skus varchar(64)[] NOT NULL DEFAULT '{}',
            categories varchar(120)[] NOT NULL DEFAULT '{}',
            -- When a time-based rule (days_since_last_order) can next change a membership.
            recheck_at timestamptz,
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX ix_customer_profiles_recheck_at ON customer_profiles (recheck_at) WHERE recheck_at IS NOT NULL;

        CREATE TABLE segments (
            id varchar(64) PRIMARY KEY,
            title varchar(300) NOT NULL,
            -- [{fact, op, value}], all must hold; checked by segments/rules.py before it is written.
            rules jsonb NOT NULL,
            -- Bumped whenever the rules change; a backfill walks customers in id order after `backfill_after`.
            version integer NOT NULL DEFAULT 1,
            status varchar(16) NOT NULL DEFAULT 'backfilling'
                CONSTRAINT ck_segments_status CHECK (status IN ('backfilling', 'ready')),
            backfill_after uuid,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now()
        );

        CREATE TABLE segment_members (
            segment_id varchar(64) NOT NULL REFERENCES segments (id) ON DELETE CASCADE,
            customer_id uuid NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
            since timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (segment_id, customer_id)
        );
        -- Pricing reads a customer's segments in one index-only read.
        CREATE UNIQUE INDEX ix_segment_members_customer ON segment_members (customer_id, segment_id);

        -- Where the membership worker is in the event feed (one row). While `after_seq` is NULL it
        -- rebuilds every profile in customer id order (after `rebuild_after`), then reads the feed on
        -- from `rebuild_from_seq`, the feed's end when the rebuild began.
        CREATE TABLE segment_feed_cursor (
            id smallint PRIMARY KEY CONSTRAINT ck_segment_feed_cursor_one CHECK (id = 1),
            after_seq bigint,
            rebuild_after uuid,
            rebuild_from_seq bigint
        );
        INSERT INTO segment_feed_cursor (id) VALUES (1);

        ALTER TABLE promotions
            ADD COLUMN segments varchar(64)[],
            ADD COLUMN per_customer_limit integer CONSTRAINT ck_promotions_per_customer_limit
                CHECK (per_customer_limit IS NULL OR per_customer_limit > 0),
            ADD COLUMN total_limit integer CONSTRAINT ck_promotions_total_limit
                CHECK (total_limit IS NULL OR total_limit > 0),
            -- Orders counted against total_limit (only counted while a total_limit is set).
            ADD COLUMN redemptions integer NOT NULL DEFAULT 0 CONSTRAINT ck_promotions_redemptions
                CHECK (redemptions >= 0),
            -- Once it has single-use codes, a promotion prices only carts carrying one of them (or its code).
            ADD COLUMN single_use_codes boolean NOT NULL DEFAULT false;

        -- Pricing finds the live promotions that could touch a cart through these (promotions/service.py).
        CREATE INDEX ix_promotions_skus ON promotions USING gin (skus) WHERE killed_at IS NULL;
        CREATE INDEX ix_promotions_categories ON promotions USING gin (categories) WHERE killed_at IS NULL;
        CREATE INDEX ix_promotions_untargeted ON promotions (created_at)
            WHERE killed_at IS NULL AND skus IS NULL AND categories IS NULL;

        -- Per-customer redemption counts of promotions with a per_customer_limit.
        CREATE TABLE promotion_customer_redemptions (
            promotion_id varchar(64) NOT NULL REFERENCES promotions (id) ON DELETE CASCADE,
            customer_id uuid NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
            redemptions integer NOT NULL CONSTRAINT ck_promotion_customer_redemptions_redemptions
                CHECK (redemptions >= 0),
            PRIMARY KEY (promotion_id, customer_id)
        );

        CREATE TABLE promotion_codes (
            -- lower-cased: codes are case-insensitive
            code_key varchar(80) PRIMARY KEY,
            code varchar(80) NOT NULL,
            promotion_id varchar(64) NOT NULL REFERENCES promotions (id) ON DELETE CASCADE,
            created_at timestamptz NOT NULL DEFAULT now(),
            redeemed_at timestamptz,
            order_id uuid
        );
        CREATE INDEX ix_promotion_codes_promotion ON promotion_codes (promotion_id, code_key);

        -- What an order counted, so cancelling or expiring it gives exactly that back.
        CREATE TABLE promotion_redemptions (
            order_id uuid NOT NULL,
            promotion_id varchar(64) NOT NULL REFERENCES promotions (id) ON DELETE CASCADE,
            customer_id uuid,
            counted_total boolean NOT NULL,
            code_key varchar(80),
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (order_id, promotion_id)
        );
        """
    )


def downgrade() -> None:
    run_script(
        """
        DROP TABLE promotion_redemptions;
        DROP TABLE promotion_codes;
        DROP TABLE promotion_customer_redemptions;
        DROP INDEX ix_promotions_skus, ix_promotions_categories, ix_promotions_untargeted;
        ALTER TABLE promotions DROP COLUMN segments, DROP COLUMN per_customer_limit, DROP COLUMN total_limit,
            DROP COLUMN redemptions, DROP COLUMN single_use_codes;
        DROP TABLE segment_feed_cursor;
        DROP TABLE segment_members;
        DROP TABLE segments;
        DROP TABLE customer_profiles;
        """
    )
