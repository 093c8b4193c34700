"""``commentfeed up``: the whole stack on one machine against the embedded broker."""

from __future__ import annotations

import asyncio
import sys

import click

from commentfeed.settings import Settings
from commentfeed.stack import (
    Supervisor,
    banner,
    current_env,
    demo_data_check,
    plan,
    stack_environment,
)


@click.command()
@click.option("--no-demo", is_flag=True, help="Do not publish the demo article and comments.")
def up(no_demo: bool) -> None:
    """Run broker, streams worker, gateway and ingest API (with the demo page), each a process."""
    settings = Settings()
    services = plan(settings, with_demo=not no_demo)
    env = stack_environment(current_env())

    def echo(line: str) -> None:
        click.echo(line)
        sys.stdout.flush()

    # With the demo data, "up" means the demo pages show it (the demo job is one of the services).
    with_demo = any(s.name == "demo" for s in services)
    supervisor = Supervisor(services, env, echo,
                            data_check=demo_data_check(settings) if with_demo else None)
    code = asyncio.run(supervisor.run(lambda: echo(banner(settings))))
    sys.exit(code)
