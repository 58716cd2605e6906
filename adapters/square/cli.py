"""`commerce adapter square --config FILE` (the daemon) and `... square catch-up --since TIME`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import click

from adapters.cli import load_or_exit, platform_group
from adapters.client import CommerceClient
from adapters.config import AdapterConfig
from adapters.logs import configure_logging
from adapters.server import Daemon, serve_daemon
from adapters.square.client import SquareClient
from adapters.square.daemon import SquareAdapter
from adapters.square.webhooks import SquareReceiver
from adapters.state import AdapterState

EVENTS_WINDOW = timedelta(days=28)


@asynccontextmanager
async def square_adapter(config: AdapterConfig) -> AsyncIterator[SquareAdapter]:
    square = config.require_square()
    commerce = CommerceClient(config.commerce.url, config.commerce.key)
    client = SquareClient(square.base_url, square.access_token)
    try:
        yield SquareAdapter(AdapterState(config.state_dir), commerce, client, dict(square.locations))
    finally:
        await client.aclose()
        await commerce.aclose()


def square_daemon(adapter: SquareAdapter, config: AdapterConfig) -> Daemon:
    square = config.require_square()
    receiver = SquareReceiver(adapter.state, square.signature_key, square.notification_url, adapter.wake)
    return Daemon(
        platform="square",
        state=adapter.state,
        commerce=adapter.commerce,
        receiver=receiver,
        loops=adapter.loops(),
        extra_health=adapter.health,
    )


def run_daemon(config: AdapterConfig) -> None:
    configure_logging()

    async def main() -> None:
        async with square_adapter(config) as adapter:
            await serve_daemon(square_daemon(adapter, config), config.listen.host, config.listen.port)

    asyncio.run(main())


command = platform_group("square", run_daemon)


@command.command("catch-up")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="The adapter's TOML config.")
@click.option(
    "--since",
    required=True,
    type=click.DateTime(formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"]),
    help="Recover notifications Square recorded from this time (UTC unless an offset is given; 28 days at most).",
)
@click.pass_context
def catch_up(ctx: click.Context, config_path: str | None, since: datetime) -> None:
    """Recover missed webhooks from Square's Events API and apply them (repeats change nothing)."""
    config = load_or_exit(config_path or ctx.obj, "square")
    since = since if since.tzinfo else since.replace(tzinfo=UTC)
    oldest = datetime.now(UTC) - EVENTS_WINDOW
    if since < oldest:
        click.echo(f"Square keeps 28 days of events: starting at {oldest.isoformat()}", err=True)
        since = oldest
    configure_logging("WARNING")

    async def main() -> tuple[int, int]:
        async with square_adapter(config) as adapter:
            return await adapter.catch_up(since)

    read, new = asyncio.run(main())
    click.echo(f"read {read} event(s) from Square, {new} not received before; inbox applied")
