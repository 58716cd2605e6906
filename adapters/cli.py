"""`commerce adapter <platform> ...`: each platform's commands live in `adapters/<platform>/cli.py` as a
click object named `command`, loaded only when that platform is asked for."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable

import click

from adapters.config import AdapterConfig, ConfigError, Platform, load_config
from adapters.state import AdapterState

PLATFORMS = ("shopify", "square")


class PlatformGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return [p for p in PLATFORMS if importlib.util.find_spec(f"adapters.{p}") is not None]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.list_commands(ctx):
            return None
        command = importlib.import_module(f"adapters.{cmd_name}.cli").command
        assert isinstance(command, click.Command)
        return command


@click.group(cls=PlatformGroup)
def adapter() -> None:
    """Run a platform adapter: a daemon that keeps a platform and this service in sync through the API."""


def load_or_exit(path: str | None, platform: Platform) -> AdapterConfig:
    if not path:
        raise click.UsageError("--config FILE is required")
    try:
        return load_config(path, platform)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def platform_group(platform: Platform, run_daemon: Callable[[AdapterConfig], None]) -> click.Group:
    """`commerce adapter <platform> --config FILE` runs the daemon; `replay` and `dead-letters` work on its
    state folder (a running daemon picks replayed letters up within a second). Add more subcommands to
    the returned group."""

    @click.group(name=platform, invoke_without_command=True)
    @click.option("--config", "config_path", type=click.Path(dir_okay=False), help="The adapter's TOML config.")
    @click.pass_context
    def group(ctx: click.Context, config_path: str | None) -> None:
        ctx.obj = config_path
        if ctx.invoked_subcommand is None:
            run_daemon(load_or_exit(config_path, platform))

    group.help = f"Run the {platform} adapter daemon (`--config FILE`), or one of its commands."

    @group.command("dead-letters")
    @click.option("--config", "config_path", type=click.Path(dir_okay=False), help="The adapter's TOML config.")
    @click.pass_context
    def dead_letters(ctx: click.Context, config_path: str | None) -> None:
        """List what could not be applied, with the reason."""
        config = load_or_exit(config_path or ctx.obj, platform)
        for letter in AdapterState(config.state_dir).dead_letters():
            click.echo(f"{letter.id}  {letter.item.topic}  {letter.code}: {letter.reason}")

    @group.command("replay")
    @click.option("--config", "config_path", type=click.Path(dir_okay=False), help="The adapter's TOML config.")
    @click.option("--all", "replay_all", is_flag=True, help="Replay every dead letter.")
    @click.argument("ids", nargs=-1)
    @click.pass_context
    def replay(ctx: click.Context, config_path: str | None, replay_all: bool, ids: tuple[str, ...]) -> None:
        """Put dead letters (by id, or --all) back in the inbox to be applied again."""
        config = load_or_exit(config_path or ctx.obj, platform)
        state = AdapterState(config.state_dir)
        chosen = [d.id for d in state.dead_letters()] if replay_all else list(ids)
        if not chosen:
            raise click.UsageError("name dead-letter ids, or --all")
        missing = [i for i in chosen if not state.replay(i)]
        click.echo(f"replayed {len(chosen) - len(missing)} dead letter(s)")
        if missing:
            raise click.ClickException(f"no dead letter with id {', '.join(missing)}")

    return group
