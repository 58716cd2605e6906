"""Live promotions kept in each process: a version that every change of the promotions moves, and
promotion codes compared by a key normalised in Python.

`promotions_version` holds one row whose `version` a trigger replaces (with a new random value) in the
transaction of every statement that inserts, deletes or truncates promotions or changes their terms
(every column but `redemptions`, which checkout counts); each process keeps the live promotions in
memory and reads this row on every pricing to know whether they are still current
(promotions/live.py). `code_key` is the promotion's code as `promotions.rules.normalise_code` makes it,
so a code is looked up by the same rule that matches it on a cart. The GIN indexes pricing used to
search promotions with go: pricing no longer queries promotions.

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-27
"""

from collections.abc import Sequence

from migrations.sql import run_script

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Every column of promotions but `redemptions` (kept in step with the model: tests/api/test_live_promotions.py).
TERMS_COLUMNS = (
    "id, title, kind, value, currency, skus, categories, code, code_key, channels, starts_at, ends_at, priority,"
    " killed_at, override_reason, override_by, override_at, segments, per_customer_limit, total_limit,"
    " single_use_codes, created_at, updated_at"
)


def upgrade() -> None:
    run_script(
        f"""
        ALTER TABLE promotions ADD COLUMN code_key varchar(64);
        DROP INDEX uq_promotions_code;

        CREATE TABLE promotions_version (
            id boolean PRIMARY KEY DEFAULT true CONSTRAINT ck_promotions_version_one_row CHECK (id),
            version uuid NOT NULL DEFAULT gen_random_uuid()
        );
        INSERT INTO promotions_version DEFAULT VALUES;

        -- A new random version, not a count: a table emptied and filled again never repeats one.
        CREATE FUNCTION promotions_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO promotions_version (id, version) VALUES (true, gen_random_uuid())
            ON CONFLICT (id) DO UPDATE SET version = excluded.version;
            RETURN NULL;
        END
        $$;
        CREATE TRIGGER promotions_changed
            AFTER INSERT OR DELETE OR TRUNCATE OR UPDATE OF {TERMS_COLUMNS} ON promotions
            FOR EACH STATEMENT EXECUTE FUNCTION promotions_changed();

        DROP INDEX ix_promotions_skus, ix_promotions_categories, ix_promotions_untargeted;
        -- Codes so far passed the API's pattern (ASCII letters, digits, "_" and "-"), where lower() and
        -- Python's str.casefold agree.
        UPDATE promotions SET code_key = lower(code) WHERE code IS NOT NULL;
        CREATE UNIQUE INDEX uq_promotions_code ON promotions (code_key);
        """
    )


def downgrade() -> None:
    run_script(
        """
        DROP TRIGGER promotions_changed ON promotions;
        DROP FUNCTION promotions_changed();
        DROP TABLE promotions_version;
        DROP INDEX uq_promotions_code;
        ALTER TABLE promotions DROP COLUMN code_key;
        CREATE UNIQUE INDEX uq_promotions_code ON promotions (lower(code)) WHERE code IS NOT NULL;
        CREATE INDEX ix_promotions_skus ON promotions USING gin (skus) WHERE killed_at IS NULL;
        CREATE INDEX ix_promotions_categories ON promotions USING gin (categories) WHERE killed_at IS NULL;
        CREATE INDEX ix_promotions_untargeted ON promotions (created_at)
            WHERE killed_at IS NULL AND skus IS NULL AND categories IS NULL;
        """
    )
