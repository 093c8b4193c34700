"""``commentfeed gateway``: run one websocket gateway until SIGTERM or Ctrl-C."""

from __future__ import annotations

import asyncio
import logging
import signal

import click
import uvloop

from commentfeed.gc_tuning import tune_gc
from commentfeed.settings import Settings
from gateway import lograte
from gateway.limits import connection_room, raise_open_files_limit
from gateway.server import WS_PATH, serve
from gateway.settings import GatewaySettings

log = logging.getLogger("gateway")


async def run(settings: Settings, options: GatewaySettings) -> None:
    """Serve until SIGTERM/SIGINT, then close every client with 1001 and return."""
    # Each connection is a file: the soft limit (often 1,024) would cap connections far below
    # the hard one. Repeated lines (a client or a dead upstream making the same warning) are
    # rate-limited, so the log cannot grow faster than an operator can read it.
    soft, hard = raise_open_files_limit()
    lograte.install()
    log.info("open-files limit %d (hard %d)", soft, hard)
    room = connection_room(soft, options.upstream_in_flight)
    if options.max_connections is None or options.max_connections > room:
        # Past this, accept fails for everyone; under it, one more client gets 4002 and goes.
        log.warning("the open-files limit (%d) leaves room for %d connections: "
                    "max_connections lowered from %s", soft, room, options.max_connections)
        options = options.model_copy(update={"max_connections": room})
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with serve(settings, options) as gw:
        log.info("gateway listening on ws://%s:%d%s (streams API %s, topic %s)",
                 settings.host, gw.port, WS_PATH, settings.streams_base_url, gw.topic)
        await stop.wait()
        log.info("gateway stopping: closing connections with 1001")
    log.info("gateway stopped")


@click.command()
@click.option("--host", help="Interface to bind (default: COMMENTFEED_HOST).")
@click.option("--port", type=int, help="Port to bind (default: COMMENTFEED_GATEWAY_PORT).")
def gateway(host: str | None, port: int | None) -> None:
    """A websocket gateway: live comment feeds at ws://HOST:PORT/ws.

    Reads every partition of feed.updates, fetches snapshots from the streams query API
    (COMMENTFEED_STREAMS_URL) and answers /healthz, /readyz and /metrics on the same port.
    Gateway knobs come from COMMENTFEED_GATEWAY_* (limits, history, compression, origins).
    """
    settings = Settings()
    overrides: dict[str, object] = {}
    if host is not None:
        overrides["host"] = host
    if port is not None:
        overrides["gateway_port"] = port
    if overrides:
        settings = settings.model_copy(update=overrides)
    tune_gc()
    # uvloop: the fan-out loop's own scheduling and socket writes cost a third less CPU.
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(run(settings, GatewaySettings()))
