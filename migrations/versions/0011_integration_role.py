"""Auth: the `integration` role, for adapters and middleware.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-27
"""

from collections.abc import Sequence

from migrations.sql import run_script

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    run_script(
        """
        ALTER TABLE api_keys DROP CONSTRAINT ck_api_keys_role;
        ALTER TABLE api_keys ADD CONSTRAINT ck_api_keys_role
            CHECK (role IN ('admin', 'storefront', 'pos', 'associate', 'ads', 'integration'));
        """
    )


def downgrade() -> None:
    run_script(
        """
        ALTER TABLE api_keys DROP CONSTRAINT ck_api_keys_role;
        ALTER TABLE api_keys ADD CONSTRAINT ck_api_keys_role
            CHECK (role IN ('admin', 'storefront', 'pos', 'associate', 'ads'));
        """
    )
