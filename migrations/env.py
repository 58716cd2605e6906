"""Alembic environment (async, asyncpg). The URL comes from the caller, `-x url=`, or DATABASE_URL."""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from commerce.db import all_tables, asyncpg_url

config = context.config


def database_url() -> str:
    url = config.attributes.get("url") or context.get_x_argument(as_dictionary=True).get("url")
    url = url or os.environ.get("DATABASE_URL")
    if not url:
        raise RuntimeError("No database URL: set DATABASE_URL or pass -x url=postgresql://...")
    return asyncpg_url(str(url))


def run_sync(connection: Connection) -> None:
    # The models' tables, so `alembic revision --autogenerate` and compare_metadata see any drift
    # between them and the migrations (tests/api/test_schema_matches_models.py).
    context.configure(connection=connection, target_metadata=all_tables(), transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()


async def run_async() -> None:
    engine = create_async_engine(database_url(), poolclass=NullPool)
    async with engine.connect() as connection:
        # Several service processes may start at once: one migrates, the others wait for it.
        await connection.exec_driver_sql("SELECT pg_advisory_lock(72707201)")
        await connection.commit()
        try:
            await connection.run_sync(run_sync)
            await connection.commit()
        finally:
            await connection.exec_driver_sql("SELECT pg_advisory_unlock(72707201)")
            await connection.commit()
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=database_url(), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(run_async())
