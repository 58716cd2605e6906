"""Retention: the webhook delivery log is deleted by age, so it is indexed by age.

(Idempotency records already have an index on `created_at`; the feed is deleted from its start,
along the unique index on `seq`.)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23
"""

from collections.abc import Sequence

from migrations.sql import run_script

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    run_script("CREATE INDEX ix_webhook_deliveries_at ON webhook_deliveries (at)")


def downgrade() -> None:
    run_script("DROP INDEX ix_webhook_deliveries_at")
