"""Shopper access: customer tokens, marketing consent and its change log.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-27
"""

from collections.abc import Sequence

from migrations.sql import run_script

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    run_script(
        """
        -- A signed-in shopper's bearer credential; only its SHA-256 is kept.
        CREATE TABLE customer_tokens (
            id uuid PRIMARY KEY,
            customer_id uuid NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
            token_hash varchar(64) NOT NULL CONSTRAINT uq_customer_tokens_token_hash UNIQUE,
            prefix varchar(16) NOT NULL,
            created_by varchar(80) NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            expires_at timestamptz NOT NULL,
            revoked_at timestamptz,
            CONSTRAINT ck_customer_tokens_expiry CHECK (expires_at > created_at)
        );
        -- Revoking a customer's tokens finds the ones still live.
        CREATE INDEX ix_customer_tokens_customer_id ON customer_tokens (customer_id) WHERE revoked_at IS NULL;

        ALTER TABLE customers
            ADD COLUMN email_consent boolean NOT NULL DEFAULT false,
            ADD COLUMN sms_consent boolean NOT NULL DEFAULT false;

        -- Every consent change: what it became, when, and who changed it (role:key id).
        CREATE TABLE consent_changes (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            customer_id uuid NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
            channel varchar(8) NOT NULL CONSTRAINT ck_consent_changes_channel CHECK (channel IN ('email', 'sms')),
            granted boolean NOT NULL,
            source varchar(80) NOT NULL,
            changed_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX ix_consent_changes_customer_id ON consent_changes (customer_id, id);
        """
    )


def downgrade() -> None:
    run_script(
        """
        DROP TABLE consent_changes;
        ALTER TABLE customers DROP COLUMN email_consent, DROP COLUMN sms_consent;
        DROP TABLE customer_tokens;
        """
    )
