"""Wake the event relay when events are written: a statement-level trigger notifies on commit.

Every transaction that inserts outbox rows sends one `commerce_events_written` notification
(PostgreSQL folds identical notifications of one transaction into one and delivers it only if the
transaction commits). A trigger rather than a call in each writer: events are written by several
paths (the ORM's `events.service.record`, checkout's and inventory's single statements), and the
trigger costs no extra round trip; FOR EACH STATEMENT so a many-row insert still notifies once.

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-27
"""

from collections.abc import Sequence

from migrations.sql import run_script

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    run_script(
        """
        CREATE FUNCTION notify_events_written() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('commerce_events_written', '');
            RETURN NULL;
        END
        $$;
        CREATE TRIGGER events_written AFTER INSERT ON events
            FOR EACH STATEMENT EXECUTE FUNCTION notify_events_written();
        """
    )


def downgrade() -> None:
    run_script(
        """
        DROP TRIGGER events_written ON events;
        DROP FUNCTION notify_events_written();
        """
    )
