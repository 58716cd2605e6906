"""Till sales and returns linked to their customer (by loyalty id, email or phone) when applied;
customers' phones in E.164.

The customers created here for loyalty ids that had till sales have no profile or segment membership
yet: the upgrade asks the segment worker to rebuild every profile (request_profile_rebuild), which the
running service then does in batches (docs/OPERATIONS.md).

The downgrade is lossy: it drops `pos_events.customer_id` and restores the loyalty-id indexes, but
phones stay in E.164 (their earlier form is not kept) and the customers created here, or since by
till sales, stay, as do their profiles.

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-27
"""

import logging
import os
from collections.abc import Sequence
from typing import Any

import phonenumbers
from alembic import op
from sqlalchemy import text

from migrations.sql import run_script

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    run_script(
        """
        ALTER TABLE pos_events ADD COLUMN customer_id uuid;

        -- Sales and returns recorded so far carried only a loyalty id. Each is linked the way a new one is:
        -- to the customer holding the loyalty id, created (holding just it) when none does. A loyalty id that
        -- cannot be a customer's (longer than 64, or with a space inside) stays unlinked.
        INSERT INTO customers (id, loyalty_id)
        SELECT gen_random_uuid(), l.loyalty_id
        FROM (
            SELECT DISTINCT btrim(loyalty_id) AS loyalty_id FROM pos_events
            WHERE loyalty_id IS NOT NULL AND type IN ('sale', 'return')
        ) l
        WHERE length(l.loyalty_id) BETWEEN 1 AND 64 AND l.loyalty_id !~ '\\s'
          AND NOT EXISTS (SELECT 1 FROM customers c WHERE c.loyalty_id = l.loyalty_id);
        UPDATE pos_events e SET customer_id = c.id
        FROM customers c
        WHERE c.loyalty_id = btrim(e.loyalty_id) AND e.type IN ('sale', 'return');

        -- A customer's till sales and returns, newest first (purchase history, profiles).
        CREATE INDEX ix_pos_events_customer ON pos_events (customer_id, occurred_at, store_code, event_id)
            WHERE customer_id IS NOT NULL;
        -- In-store purchases by time: customers' sales for the ad exports and the omnichannel report.
        CREATE INDEX ix_pos_events_customer_sales_at ON pos_events (occurred_at)
            WHERE customer_id IS NOT NULL AND type = 'sale';
        DROP INDEX ix_pos_events_loyalty_sales_at;
        DROP INDEX ix_pos_events_loyalty_id;
        """
    )
    request_profile_rebuild(op.get_bind())
    # Customers' phones were kept as digits with a leading `+` when written so; they are now E.164.
    _, collided = normalise_phones(op.get_bind(), os.environ.get("COMMERCE_DEFAULT_PHONE_REGION", "US").upper())
    if collided:
        logging.getLogger("alembic.runtime.migration").warning(
            "0019: %d customers' phones left as they were (another customer has the number): %s",
            len(collided),
            collided,
        )


def request_profile_rebuild(conn: Any) -> bool:
    """When a customer has no profile (those created above), set the segment worker's feed cursor to
    rebuild every profile and membership, as it does when the feed no longer holds its position; a
    missing cursor row starts a rebuild anyway. SQL on the cursor row only: no application code here.
    Returns whether a rebuild was asked for."""
    missing = conn.execute(
        text(
            "SELECT EXISTS (SELECT 1 FROM customers c "
            "WHERE NOT EXISTS (SELECT 1 FROM customer_profiles p WHERE p.customer_id = c.id))"
        )
    ).scalar()
    if missing:
        conn.execute(
            text(
                "UPDATE segment_feed_cursor SET after_seq = NULL, rebuild_after = NULL, rebuild_from_seq = NULL "
                "WHERE id = 1"
            )
        )
    return bool(missing)


def _e164(phone: str, region: str) -> str | None:
    """As commerce.customers.rules.e164 at this revision (a migration does not follow later code)."""
    try:
        number = phonenumbers.parse(phone, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_phones(conn: Any, region: str) -> tuple[int, list[str]]:
    """Rewrite every customer's phone in E.164 (read in `region` when it has no country code). A phone
    that is not a valid number, or whose E.164 form another customer already holds (or would, a second
    row rewritten to the same number), is left as it is. Returns (rewritten, ids of the rows left because
    of a collision)."""
    rows = conn.execute(text("SELECT id, phone FROM customers WHERE phone IS NOT NULL ORDER BY created_at, id")).all()
    taken = {phone for _, phone in rows}
    rewritten, collided = 0, []
    for customer_id, phone in rows:
        number = _e164(phone, region)
        if number is None or number == phone:
            continue
        if number in taken:
            collided.append(str(customer_id))
            continue
        conn.execute(text("UPDATE customers SET phone = :phone WHERE id = :id"), {"phone": number, "id": customer_id})
        taken.discard(phone)
        taken.add(number)
        rewritten += 1
    return rewritten, collided


def downgrade() -> None:
    run_script(
        """
        CREATE INDEX ix_pos_events_loyalty_id ON pos_events (loyalty_id, occurred_at, store_code, event_id)
            WHERE loyalty_id IS NOT NULL;
        CREATE INDEX ix_pos_events_loyalty_sales_at ON pos_events (occurred_at)
            WHERE loyalty_id IS NOT NULL AND type = 'sale';
        DROP INDEX ix_pos_events_customer_sales_at;
        DROP INDEX ix_pos_events_customer;
        ALTER TABLE pos_events DROP COLUMN customer_id;
        """
    )
