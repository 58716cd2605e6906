"""`python -m adapters.shopify --config FILE`: the same commands as `commerce adapter shopify`, without
loading the service's code (a lighter start for supervisors and tests)."""

from adapters.shopify.cli import command

command(prog_name="python -m adapters.shopify")
