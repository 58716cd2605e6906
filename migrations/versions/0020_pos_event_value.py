"""The value of each till sale and return, stored when it is ingested, for the omnichannel report.

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-27
"""

from collections.abc import Sequence

from migrations.sql import run_script

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    run_script(
        """
        -- A sale's or return's value at the till's prices, in minor units (a return's negative), and its
        -- currency; both NULL for a count or a receipt, and for an event with a line rung up without a price.
        ALTER TABLE pos_events ADD COLUMN total_minor bigint, ADD COLUMN currency varchar(3);

        -- The events recorded so far, valued from their lines as ingest values the new ones.
        UPDATE pos_events p
        SET (total_minor, currency) = (
            SELECT CASE WHEN p.type = 'return' THEN -1 ELSE 1 END
                       * sum((l ->> 'quantity')::bigint * (l -> 'unit_price' ->> 'amount')::bigint),
                   min(l -> 'unit_price' ->> 'currency')
            FROM jsonb_array_elements(p.lines) l
            HAVING bool_and(l -> 'unit_price' ->> 'amount' IS NOT NULL)
        )
        WHERE p.type IN ('sale', 'return');

        -- In-store purchases by time for the exports and the report: customers' sales with their stored value
        -- read from the index alone (the report reads a year of them), and the few without one.
        DROP INDEX ix_pos_events_customer_sales_at;
        CREATE INDEX ix_pos_events_customer_sales_at ON pos_events (occurred_at)
            INCLUDE (customer_id, total_minor, currency)
            WHERE customer_id IS NOT NULL AND type = 'sale' AND total_minor IS NOT NULL;
        CREATE INDEX ix_pos_events_unvalued_sales_at ON pos_events (occurred_at)
            WHERE customer_id IS NOT NULL AND type = 'sale' AND total_minor IS NULL;
        """
    )


def downgrade() -> None:
    run_script(
        """
        DROP INDEX ix_pos_events_unvalued_sales_at;
        DROP INDEX ix_pos_events_customer_sales_at;
        ALTER TABLE pos_events DROP COLUMN currency, DROP COLUMN total_minor;
        CREATE INDEX ix_pos_events_customer_sales_at ON pos_events (occurred_at)
            WHERE customer_id IS NOT NULL AND type = 'sale';
        """
    )
