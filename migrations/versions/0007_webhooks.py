"""Webhooks: subscriptions with a durable delivery cursor, and the log of delivery attempts.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""

from collections.abc import Sequence

from migrations.sql import run_script

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    run_script(
        """
        CREATE TABLE webhooks (
            id varchar(64) PRIMARY KEY,
            url text NOT NULL,
            types varchar(64)[] NOT NULL CONSTRAINT ck_webhooks_types CHECK (cardinality(types) > 0),
            -- Kept in clear: every delivery is signed with it (HMAC needs the secret itself).
            secret text NOT NULL CONSTRAINT ck_webhooks_secret CHECK (length(secret) >= 16),
            -- Every event up to this feed position was delivered (or did not match `types`).
            last_delivered_seq bigint NOT NULL DEFAULT 0,
            failed_attempts integer NOT NULL DEFAULT 0,
            next_attempt_at timestamptz NOT NULL DEFAULT now(),
            -- The dispatcher process delivering for this webhook, until `lease_until`.
            lease_owner uuid,
            lease_until timestamptz,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX ix_webhooks_next_attempt_at ON webhooks (next_attempt_at);

        CREATE TABLE webhook_deliveries (
            id bigserial PRIMARY KEY,
            webhook_id varchar(64) NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
            seq bigint NOT NULL,
            attempt integer NOT NULL,
            status_code integer,
            error text,
            duration_ms integer NOT NULL,
            at timestamptz NOT NULL DEFAULT now(),
            next_attempt_at timestamptz
        );
        CREATE INDEX ix_webhook_deliveries_webhook ON webhook_deliveries (webhook_id, id DESC);
        """
    )


def downgrade() -> None:
    run_script("DROP TABLE webhook_deliveries, webhooks")
