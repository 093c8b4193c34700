"""The ``commentfeed`` command: one CLI for every process of the stack.

Subcommands live beside the code they run and are imported only when invoked, so
``commentfeed broker`` does not pay for importing Faust.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging

import click

#: subcommand -> "module:attribute" of a click command.
COMMANDS: dict[str, str] = {
    "up": "commentfeed.stack_cli:up",
    "broker": "commentfeed.broker_cli:broker",
    "topics": "commentfeed.broker_cli:topics",
    "worker": "streams.cli:worker",
    "gateway": "gateway.cli:gateway",
    "ingest": "producers.cli:ingest",
    "demo": "producers.cli:demo",
    "publish": "producers.cli:publish",
    "load": "producers.cli:load",
}


def available(name: str) -> bool:
    """Whether the package behind a subcommand is present in this install."""
    module = COMMANDS[name].split(":")[0]
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return [n for n in COMMANDS if available(n)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None or not available(cmd_name):
            return None
        module, attr = target.split(":")
        command = getattr(importlib.import_module(module), attr)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--log-level", envvar="COMMENTFEED_LOG_LEVEL", default="INFO", show_default=True)
def cli(log_level: str) -> None:
    """commentfeed: a live comment feed for news sites on Kafka.

    Settings come from COMMENTFEED_* environment variables (see README).
    """
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def main() -> None:
    cli()
