"""``commentfeed broker`` (embedded Tansu) and ``commentfeed topics`` (create topics anywhere)."""

from __future__ import annotations

import asyncio
import signal
import sys
import threading

import click

from commentfeed.broker import EmbeddedBroker
from commentfeed.errors import BrokerError
from commentfeed.kafka import ensure_topics
from commentfeed.settings import Settings


@click.command()
def broker() -> None:
    """Run the embedded broker on COMMENTFEED_KAFKA_BOOTSTRAP and create the topics.

    Memory only: everything is gone when it stops. Ctrl-C or SIGTERM stops it.
    """
    settings = Settings()
    host, _, port = settings.kafka_bootstrap.rpartition(":")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        with EmbeddedBroker(host or "127.0.0.1", int(port)) as embedded:
            created = asyncio.run(ensure_topics(settings))
            click.echo(f"broker ready on {embedded.bootstrap}; topics: {', '.join(created)}")
            while not stop.wait(0.5):
                if not embedded.alive():
                    raise BrokerError("tansu exited unexpectedly")
    except BrokerError as exc:
        click.echo(f"broker: {exc}", err=True)
        sys.exit(1)


@click.command()
def topics() -> None:
    """Create the stack's topics on COMMENTFEED_KAFKA_BOOTSTRAP (any Kafka); existing ones stay."""
    try:
        created = asyncio.run(ensure_topics(Settings()))
    except BrokerError as exc:
        click.echo(f"topics: {exc}", err=True)
        sys.exit(1)
    click.echo(f"created: {', '.join(created) or 'none (all existed)'}")
