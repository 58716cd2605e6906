"""`commerce adapter shopify --config FILE` (the daemon), `... reconcile`, `... replay`, `... dead-letters`."""

from __future__ import annotations

import asyncio
import os

import click

from adapters.cli import load_or_exit, platform_group
from adapters.config import AdapterConfig
from adapters.logs import configure_logging


def run_daemon(config: AdapterConfig) -> None:
    from adapters.shopify.daemon import run

    configure_logging(os.environ.get("COMMERCE_LOG_LEVEL", "INFO"))
    asyncio.run(run(config))


command = platform_group("shopify", run_daemon)


@command.command("reconcile")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="The adapter's TOML config.")
@click.pass_context
def reconcile_command(ctx: click.Context, config_path: str | None) -> None:
    """Compare every mapped level here and at Shopify and make Shopify's match ours (for locations Shopify
    owns, ours match Shopify's). Run it after an outage longer than Shopify's 4-hour webhook retries."""
    from adapters.shopify.adapter import ShopifyAdapter
    from adapters.shopify.outbound import reconcile

    config = load_or_exit(config_path or ctx.obj, "shopify")
    configure_logging(os.environ.get("COMMERCE_LOG_LEVEL", "WARNING"))

    async def main() -> None:
        adapter = ShopifyAdapter.build(config)
        try:
            report = await reconcile(adapter)
        finally:
            await adapter.aclose()
        click.echo(
            f"compared {report.compared} level(s): set {report.fixed_at_shopify} at Shopify, "
            f"{report.fixed_here} here; {report.not_in_shopify} SKU(s) are not in Shopify"
        )

    asyncio.run(main())
