"""``commentfeed worker``: run the streams worker and its query API from settings.

Creates the stack's topics first (idempotent), then runs the Faust app under Faust's worker,
which stops cleanly on SIGTERM or SIGINT and logs to stdout. With a RocksDB table store the
local state is only trusted after a clean stop: RocksDB keeps writes whose changelog records
a ``kill -9`` may have lost, so after an unclean stop the tables are rebuilt from their
changelogs, which keeps replays exact.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path
from typing import Any

import click

from commentfeed.errors import BrokerError
from commentfeed.gc_tuning import tune_gc
from commentfeed.kafka import ensure_topics
from commentfeed.settings import Settings

log = logging.getLogger(__name__)

CLEAN_MARKER = "clean-shutdown"


def prepare_table_dir(settings: Settings, tabledir: Path) -> Path | None:
    """Drop local RocksDB state left by an unclean stop; return the marker path to write."""
    if not settings.table_store.startswith("rocksdb"):
        return None
    root = Path(settings.data_dir)
    root.mkdir(parents=True, exist_ok=True)
    marker = root / CLEAN_MARKER
    if marker.exists():
        marker.unlink()
    elif tabledir.exists():
        log.warning("previous run did not stop cleanly: rebuilding tables from changelogs")
        shutil.rmtree(tabledir)
    return marker


def stdout_logging(level: str) -> dict[str, Any]:
    """Faust's worker logs to stderr by default; every commentfeed service logs to stdout."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
        "handlers": {"stdout": {"class": "logging.StreamHandler", "formatter": "plain",
                                "stream": "ext://sys.stdout"}},
        "root": {"level": level.upper(), "handlers": ["stdout"]},
    }


@click.command()
def worker() -> None:
    """Run a streams worker: Faust agents, tables and the query API on STREAMS_PORT."""
    import faust

    from streams.app import build_app

    settings = Settings()
    import uvloop

    # uvloop: asyncio's scheduling was the largest single item of the worker's profile.
    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        created = loop.run_until_complete(ensure_topics(settings))
    except BrokerError as exc:
        raise click.ClickException(str(exc)) from None
    if created:
        log.info("created topics: %s", ", ".join(created))
    # Faust keeps its data directory even with the memory store; it does not create parents.
    Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    app = build_app(settings)
    marker = prepare_table_dir(settings, Path(app.conf.tabledir))
    runner = faust.Worker(app, loop=loop, loglevel=settings.log_level, redirect_stdouts=False,
                          logging_config=stdout_logging(settings.log_level))
    # At WARNING and above Faust would draw a terminal spinner and, for it, set the root logger
    # to DEBUG: every debug call of aiokafka and Faust then built a log record (a few % of CPU).
    runner.spinner = None
    tune_gc()
    try:
        runner.execute_from_commandline()
    except SystemExit as exc:
        if marker is not None and exc.code in (0, None):
            marker.touch()
        raise
