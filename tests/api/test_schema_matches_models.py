"""The schema the migrations build is the one the ORM models describe (models mirror the migrations)."""

from __future__ import annotations

from typing import Any

import asyncpg
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import CheckConstraint
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from commerce.db import all_tables, asyncpg_url


def _differences(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(context, all_tables()))


async def test_migrated_schema_matches_the_models(database_url: str) -> None:
    """Tables, columns and their types, nullability, indexes, unique and foreign keys."""
    engine = create_async_engine(asyncpg_url(database_url), poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            differences = await conn.run_sync(_differences)
    finally:
        await engine.dispose()
    assert differences == [], "\n".join(map(str, differences))


def _named(table: str, name: str) -> str:
    """The name the naming convention ("ck_<table>_<name>") gives, whether or not it was applied yet."""
    prefix = f"ck_{table}_"
    return name if name.startswith(prefix) else prefix + name


async def test_every_check_constraint_is_in_the_models(db_conn: asyncpg.Connection) -> None:
    """compare_metadata does not compare CHECK constraints: their names are compared here, table by table."""
    rows = await db_conn.fetch(
        "SELECT rel.relname AS table, con.conname AS name FROM pg_constraint con"
        " JOIN pg_class rel ON rel.oid = con.conrelid JOIN pg_namespace ns ON ns.oid = rel.relnamespace"
        " WHERE con.contype = 'c' AND ns.nspname = 'public'"
    )
    in_database = {(r["table"], r["name"]) for r in rows}
    in_models = {
        (table.name, _named(table.name, constraint.name))
        for table in all_tables().tables.values()
        for constraint in table.constraints
        if isinstance(constraint, CheckConstraint) and isinstance(constraint.name, str)
    }
    assert in_database == in_models
