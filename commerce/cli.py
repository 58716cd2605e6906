"""`commerce`: serve the API, migrate, issue keys, import products, load the demo retailer."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import click
from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncSession

from commerce.db import EmbeddedPostgres, make_engine, make_sessionmaker, migrate
from commerce.settings import Settings, default_data_dir

T = TypeVar("T")
console = Console(stderr=True, soft_wrap=True)

data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=default_data_dir,
    show_default="per-user data folder",
    help="Where the embedded PostgreSQL keeps its data (ignored when DATABASE_URL is set).",
)


@contextmanager
def database(data_dir: Path) -> Iterator[str]:
    """DATABASE_URL if set; otherwise an embedded PostgreSQL in `data_dir`, stopped on exit."""
    url = os.environ.get("DATABASE_URL")
    if url:
        yield url
        return
    embedded = EmbeddedPostgres(data_dir)
    try:
        with console.status(f"Starting embedded PostgreSQL in {data_dir} ..."):
            url = embedded.start()
        yield url
    finally:
        embedded.stop()


def run_in_session(url: str, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `work` in one committed transaction."""

    async def main() -> T:
        engine = make_engine(url, null_pool=True)
        try:
            async with make_sessionmaker(engine)() as session, session.begin():
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(main())


def admin_token(data_dir: Path) -> str:
    """COMMERCE_ADMIN_TOKEN, or one generated once and kept (mode 600) in the data folder."""
    token = os.environ.get("COMMERCE_ADMIN_TOKEN")
    if token:
        return token
    path = data_dir / "admin-token"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    token = "ck_admin_" + secrets.token_urlsafe(32)
    path.touch(mode=0o600)
    path.write_text(token + "\n")
    return token


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Omnichannel commerce backend.

    With no DATABASE_URL every command uses an embedded PostgreSQL in the data folder.
    """
    logging.basicConfig(
        level=os.environ.get("COMMERCE_LOG_LEVEL", "INFO"), format="%(levelname)s %(name)s: %(message)s"
    )


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@data_dir_option
@click.option("--demo", is_flag=True, help="Load the demo retailer (stores, catalog, stock) before serving.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64), help="Server processes.")
@click.option(
    "--server",
    type=click.Choice(["granian", "uvicorn"]),
    default="granian",
    show_default=True,
    help="ASGI server to run the app with.",
)
def serve(host: str, port: int, data_dir: Path, demo: bool, workers: int, server: str) -> None:
    """Apply migrations and serve the HTTP API (Ctrl-C stops the server and the embedded database)."""
    with database(data_dir) as url:
        migrate(url)
        if demo:
            load_demo_data(url)
        token = admin_token(data_dir)
        os.environ["DATABASE_URL"] = url
        os.environ["COMMERCE_ADMIN_TOKEN"] = token
        base = f"http://{'localhost' if host in ('127.0.0.1', '0.0.0.0') else host}:{port}"
        console.print(f"[bold green]Commerce API[/] listening on {base}  ({workers} worker(s), {server})")
        console.print(f"  API docs:   {base}/schema   (OpenAPI JSON: {base}/schema/openapi.json)")
        console.print(f"  Auth:       export TOKEN={token}")
        console.print('              curl -H "Authorization: Bearer $TOKEN" ' + f"{base}/v1/stores")
        console.print("  Stop:       Ctrl-C (stops the embedded database too)")
        run_server(host, port, workers, server)
    console.print("Stopped.")


def run_server(host: str, port: int, workers: int, server: str) -> None:
    if server == "uvicorn":
        import uvicorn

        uvicorn.run("commerce.app:create_app", factory=True, host=host, port=port, workers=workers, log_level="info")
        return
    from granian import Granian
    from granian.constants import Interfaces

    Granian(
        "commerce.app:create_app",
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        factory=True,
        log_access=False,
    ).serve()


@main.command("migrate")
@data_dir_option
def migrate_command(data_dir: Path) -> None:
    """Apply every pending schema migration."""
    with database(data_dir) as url:
        migrate(url)
    console.print("Schema is up to date.")


@main.group()
def keys() -> None:
    """Manage API keys."""


@keys.command("create")
@click.option(
    "--role",
    required=True,
    type=click.Choice(["admin", "storefront", "pos", "associate", "ads"]),
    help="What the key may do.",
)
@click.option("--store", default=None, help="Store code (required for pos and associate keys).")
@data_dir_option
def create_key(role: str, store: str | None, data_dir: Path) -> None:
    """Issue an API key and print it once (only its hash is stored)."""
    from commerce.auth import service
    from commerce.errors import DomainError

    with database(data_dir) as url:
        migrate(url)
        try:
            out = run_in_session(url, lambda db: service.create_key(db, role, store))  # type: ignore[arg-type]
        except DomainError as exc:
            raise click.ClickException(exc.detail) from None
    click.echo(out.key)
    console.print(f"Created {role} key {out.id}" + (f" for store {store}" if store else "") + ". Store it now.")


@main.group("import")
def import_group() -> None:
    """Bulk imports."""


@import_group.command("products")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--batch", default=500, show_default=True, type=click.IntRange(1, 10_000), help="Lines per commit.")
@data_dir_option
def import_products(file: Path, batch: int, data_dir: Path) -> None:
    """Import products from an NDJSON FILE (one `{product_id, title, variants, ...}` per line)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from commerce.catalog.schemas import ImportReport
    from commerce.catalog.service import import_products as run_import

    lines = file.read_bytes().splitlines()
    created = updated = 0
    failures = []
    with database(data_dir) as url:
        migrate(url)
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
        ) as progress:
            task = progress.add_task(f"Importing {file.name}", total=len(lines))
            for start in range(0, len(lines), batch):
                chunk = lines[start : start + batch]

                async def apply(db: AsyncSession, chunk: list[bytes] = chunk, first: int = start + 1) -> ImportReport:
                    return await run_import(db, chunk, first_line=first)

                report = run_in_session(url, apply)
                created += report.created
                updated += report.updated
                failures.extend(report.failed)
                progress.advance(task, len(chunk))
    console.print(f"[bold]{created} created, {updated} updated, {len(failures)} failed[/]")
    for f in failures[:50]:
        console.print(f"  line {f.line}: {f.code}: {f.detail}")
    if len(failures) > 50:
        console.print(f"  ... and {len(failures) - 50} more")
    if failures:
        sys.exit(1)


def load_demo_data(url: str) -> None:
    from commerce.demo import load_demo

    summary = run_in_session(url, load_demo)
    console.print(f"Demo retailer loaded: {summary}")


@main.command()
@data_dir_option
def demo(data_dir: Path) -> None:
    """Load the demo retailer: stores in Chicago, a warehouse, a catalog and stock (safe to repeat)."""
    with database(data_dir) as url:
        migrate(url)
        load_demo_data(url)


@main.command()
@data_dir_option
def expire(data_dir: Path) -> None:
    """Expire pickup orders past their hold now, releasing their stock (the service also does this itself)."""
    from commerce.orders.sweeper import sweep_once

    async def run(url: str) -> int:
        engine = make_engine(url, null_pool=True)
        try:
            return await sweep_once(make_sessionmaker(engine))
        finally:
            await engine.dispose()

    with database(data_dir) as url:
        migrate(url)
        expired = asyncio.run(run(url))
    console.print(f"Expired {expired} pickup order(s).")


@main.command()
@data_dir_option
def purge(data_dir: Path) -> None:
    """Delete what is past its retention now: idempotency records, the webhook delivery log and old feed
    events (the service also does this itself; the COMMERCE_*_RETENTION_* settings say how long)."""
    from commerce.retention import Purged
    from commerce.retention import purge as purge_expired

    async def run(url: str) -> Purged:
        engine = make_engine(url, null_pool=True)
        try:
            return await purge_expired(make_sessionmaker(engine), Settings.from_env())
        finally:
            await engine.dispose()

    with database(data_dir) as url:
        migrate(url)
        purged = asyncio.run(run(url))
    console.print(
        f"Deleted {purged.idempotency_keys} idempotency record(s), {purged.webhook_deliveries} webhook delivery"
        f" log row(s) and {purged.events} feed event(s) past their retention."
    )


def _adapter_commands() -> click.Command:
    # Adapters are clients of the HTTP API; they import nothing from `commerce`, the CLI only mounts them.
    from adapters.cli import adapter

    return adapter


main.add_command(_adapter_commands(), "adapter")


__all__ = ["Settings", "main"]
