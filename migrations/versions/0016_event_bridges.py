"""Events: the durable cursor of each bridge that publishes the feed to a log (NATS JetStream).

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-27
"""

from collections.abc import Sequence

from migrations.sql import run_script

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    run_script(
        """
        CREATE TABLE event_bridges (
            name varchar(64) NOT NULL,
            target text NOT NULL,
            last_published_seq bigint NOT NULL DEFAULT 0,
            updated_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT pk_event_bridges PRIMARY KEY (name)
        );
        """
    )


def downgrade() -> None:
    run_script("DROP TABLE event_bridges;")
