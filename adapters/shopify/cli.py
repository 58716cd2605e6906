"""`commerce adapter shopify ...`"""

from __future__ import annotations

import click

from adapters.cli import platform_group
from adapters.config import AdapterConfig


def run_daemon(config: AdapterConfig) -> None:
    raise click.ClickException("the Shopify daemon is not built yet")


command = platform_group("shopify", run_daemon)
