"""Stores: phone, weekly opening hours and dated special hours.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-27
"""

from collections.abc import Sequence

from migrations.sql import run_script

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The hours are validated by the service (commerce/stores/rules.py) and only ever read whole
    # with their store, so they are kept as JSON arrays beside it.
    run_script(
        """
        ALTER TABLE stores
            ADD COLUMN phone varchar(32),
            ADD COLUMN opening_hours jsonb NOT NULL DEFAULT '[]'
                CONSTRAINT ck_stores_opening_hours CHECK (jsonb_typeof(opening_hours) = 'array'),
            ADD COLUMN special_hours jsonb NOT NULL DEFAULT '[]'
                CONSTRAINT ck_stores_special_hours CHECK (jsonb_typeof(special_hours) = 'array');
        """
    )


def downgrade() -> None:
    run_script("ALTER TABLE stores DROP COLUMN special_hours, DROP COLUMN opening_hours, DROP COLUMN phone")
