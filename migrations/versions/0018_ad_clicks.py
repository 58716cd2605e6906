"""Ad clicks, joined to customers for offline-conversion exports and the omnichannel report.

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-27
"""

from collections.abc import Sequence

from migrations.sql import run_script

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    run_script(
        """
        -- One click on an ad: the network's click id (one row per network and click id), when it happened,
        -- and who it belongs to: the customer of the token that sent it, or the customer a cart it came
        -- with turns out to belong to (filled in once that cart has an owner).
        CREATE TABLE ad_clicks (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            network varchar(16) NOT NULL CONSTRAINT ck_ad_clicks_network CHECK (network IN ('google', 'meta')),
            click_id varchar(512) NOT NULL,
            click_id_type varchar(8) NOT NULL
                CONSTRAINT ck_ad_clicks_click_id_type CHECK (click_id_type IN ('gclid', 'gbraid', 'wbraid', 'fbclid')),
            clicked_at timestamptz NOT NULL,
            campaign varchar(255),
            customer_id uuid REFERENCES customers (id) ON DELETE CASCADE,
            cart_id varchar(64) REFERENCES carts (id) ON DELETE SET NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT uq_ad_clicks_network_click_id UNIQUE (network, click_id)
        );
        -- A purchase's last click of a network: a backward scan of this index per purchase, stopping at the
        -- first entry (the id breaks ties between clicks of the same instant).
        CREATE INDEX ix_ad_clicks_customer ON ad_clicks (customer_id, network, clicked_at, id)
            WHERE customer_id IS NOT NULL;
        -- The customers who clicked in a period: whose purchases an export or the report needs to read.
        CREATE INDEX ix_ad_clicks_network_clicked_at ON ad_clicks (network, clicked_at) WHERE customer_id IS NOT NULL;
        -- Clicks still waiting for their cart to get an owner.
        CREATE INDEX ix_ad_clicks_unresolved ON ad_clicks (cart_id) WHERE customer_id IS NULL;

        -- In-store purchases by time: loyalty sales for the exports and the report.
        CREATE INDEX ix_pos_events_loyalty_sales_at ON pos_events (occurred_at)
            WHERE loyalty_id IS NOT NULL AND type = 'sale';
        -- Pickup orders by the time they were placed (report) and collected orders by the time they were.
        CREATE INDEX ix_orders_pickup_created_at ON orders (created_at) WHERE pickup_store IS NOT NULL;
        CREATE INDEX ix_orders_collected_at ON orders (updated_at) WHERE status = 'collected';
        """
    )


def downgrade() -> None:
    run_script(
        """
        DROP INDEX ix_orders_collected_at;
        DROP INDEX ix_orders_pickup_created_at;
        DROP INDEX ix_pos_events_loyalty_sales_at;
        DROP TABLE ad_clicks;
        """
    )
