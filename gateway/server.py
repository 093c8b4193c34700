"""The gateway's I/O shell: websockets server, ``feed.updates`` consumer, streams API client.

Everything protocol-related is decided by :class:`gateway.core.Core`; this module only moves
bytes: client frames into the core, its actions out to sockets (each frame framed once, and all
of a connection's frames from one batch of work in one socket write: :mod:`gateway.outbox`),
``feed.updates`` records in (every partition by manual assignment,
no consumer group, from the end, so any number of gateways run side by side), snapshots and
history pages from the streams query API (httpx). HTTP probes and Prometheus metrics answer on
the websocket port through ``process_request``.

Presence ("N reading now"): once a second the core's viewer counts per article go through
:class:`gateway.presence.PresenceReporter`, and what it says is due goes to
``gateway.presence`` (key = article id) as one record per article, under this process's
random gateway id; a graceful close reports 0 for every article it reported.

A connection whose unsent bytes pass ``slow_consumer_bytes`` is closed with 4000 at once: the
transport's high-water mark is set to that limit, and crossing it (asyncio calls
``pause_writing``) starts the closing handshake, so later writes skip the connection and
nobody else waits for it. Coalesced writes stop at the frame that crosses the limit, as
frame-by-frame writes did (:func:`gateway.outbox.write_frames`).

What one client can cost is bounded here and in the core (issue 12): connections per address,
streams API requests in a fair bounded queue (:mod:`gateway.fetchqueue`) over a connection pool of
the same size, and repeated log lines rate-limited (:mod:`gateway.lograte`). ``/readyz`` asks only
whether this process can serve (its loops run, its consumer keeps up): a gateway whose streams API
is unreachable still serves every hot channel, so it stays in the load balancer, and the degraded
state shows in ``/metrics`` (``commentfeed_gateway_upstream_up``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
import time
from collections.abc import Coroutine, Iterable
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from types import TracebackType
from typing import Any, Protocol
from urllib.parse import quote

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from websockets.asyncio.server import Server, ServerConnection
from websockets.asyncio.server import serve as ws_serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.server import ServerProtocol

from commentfeed.channels import is_private
from commentfeed.codec import encode, loads
from commentfeed.events import GatewayPresence, GatewayPresenceData, utc_now
from commentfeed.kafka import make_consumer, make_producer
from commentfeed.settings import Settings
from commentfeed.tokens import Reader, policy_from_settings, verify_session
from commentfeed.topics import Topic, topic_name
from gateway.core import (
    Action,
    Broadcast,
    Close,
    Core,
    FetchHistory,
    FetchSnapshot,
    Send,
    Verifier,
)
from gateway.exceptions import BadUpdateError, UpstreamError
from gateway.frames import (
    check_moderation_snapshot,
    history_floor,
    parse_history,
    parse_snapshot,
    parse_updates,
)
from gateway.limits import AddressCounter, accept_error_handler, listening_socket
from gateway.metrics import Metrics
from gateway.outbox import Outbox, Wire, write_frames
from gateway.presence import PresenceReporter, Report
from gateway.protocol import CloseCode
from gateway.settings import GatewaySettings

log = logging.getLogger(__name__)

WS_PATH = "/ws"
#: How often the streams API's health is asked while nothing else tells.
UPSTREAM_PROBE_S = 5.0
#: Stands in for each connection's handshake request once it is served (see ``_handle``).
_HANDSHAKE_DONE = Request(WS_PATH, Headers())


class FeedRecord(Protocol):
    """What the gateway reads of a ``feed.updates`` record (aiokafka's ``ConsumerRecord``)."""

    @property
    def key(self) -> bytes | None: ...

    @property
    def value(self) -> bytes | None: ...

    @property
    def partition(self) -> int: ...

    @property
    def offset(self) -> int: ...


def _connection_class(gateway: Gateway, limited: bool) -> type[ServerConnection]:
    class GatewayConnection(ServerConnection):
        def pause_writing(self) -> None:
            super().pause_writing()
            # The transport's high-water mark is the slow-consumer limit: crossing it means
            # the client is not reading. Queue the close frame now, so every later write
            # skips this connection; flushing it happens outside this transport callback.
            if limited and self.protocol.state is State.OPEN:
                self.protocol.send_close(CloseCode.SLOW_CONSUMER, "slow_consumer")
                gateway.slow_consumer(self)

    return GatewayConnection


class Gateway:
    """One gateway process's server; see :func:`serve`. Use ``async with`` or start/close."""

    def __init__(self, settings: Settings, options: GatewaySettings) -> None:
        self.settings = settings
        self.options = options
        config = replace(options.core_config(settings.default_site),
                         verifier=token_verifier(settings))
        self.core: Core[ServerConnection] = Core(config)
        core = self.core
        self.addresses = AddressCounter(options.max_connections_per_address)
        #: Whether the streams API answered its last request (fetch or probe).
        self.upstream_up = True
        self.metrics = Metrics({
            "connections": ("Open websocket connections", lambda: len(core.connections)),
            "subscriptions": ("Channel subscriptions of all connections",
                              lambda: core.subscription_count),
            "channels": ("Channels this gateway keeps state for", lambda: len(core.channels)),
            "upstream_in_flight": ("Streams API requests running",
                                   lambda: core.fetches.in_flight),
            "upstream_queued": ("Streams API requests waiting for their turn",
                                lambda: core.fetches.queued()),
            "presence_articles": ("Articles this gateway reports readers of",
                                  lambda: self.presence.articles),
            "presence_reports": ("gateway.presence reports sent since start",
                                 lambda: self.presence_reports),
            "upstream_up": ("1 while the streams API answers, 0 while it does not: cold "
                            "subscribes and history then fail, hot channels are still served",
                            lambda: 1.0 if self.upstream_up else 0.0),
        })
        self.topic = topic_name(settings, Topic.FEED_UPDATES)
        #: This process's name in ``gateway.presence``: new at each start.
        self.gateway_id = f"gw-{secrets.token_hex(6)}"
        self.presence = PresenceReporter(interval_s=options.presence_interval_s,
                                         ttl_s=options.presence_ttl_s,
                                         max_per_tick=options.presence_max_reports)
        self.presence_topic = topic_name(settings, Topic.GATEWAY_PRESENCE)
        self.presence_reports = 0
        self._producer: AIOKafkaProducer | None = None
        self.consumer_ready = asyncio.Event()
        self._lag: int | None = None
        self._server: Server | None = None
        self._http: httpx.AsyncClient | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loops: list[asyncio.Task[None]] = []
        self._previous_handler: Any = None
        self._listener: socket.socket | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        opt = self.options
        # The core never runs more requests than this, so none waits inside the pool.
        pool = opt.upstream_in_flight or 100
        self._http = httpx.AsyncClient(
            base_url=self.settings.streams_base_url, timeout=opt.upstream_timeout_s,
            limits=httpx.Limits(max_connections=pool, max_keepalive_connections=pool))
        loop = asyncio.get_running_loop()
        self._previous_handler = loop.get_exception_handler()
        loop.set_exception_handler(accept_error_handler(self.metrics, self._previous_handler))
        slow = opt.slow_consumer_bytes
        self._listener = listening_socket(self.settings.host, self.settings.gateway_port)
        self._server = await ws_serve(
            self._handle, sock=self._listener,
            compression="deflate" if opt.compression == "deflate" else None,
            process_request=self._process_request,
            ping_interval=opt.ping_interval_s, ping_timeout=opt.ping_timeout_s,
            close_timeout=opt.close_timeout_s, max_size=opt.max_frame_bytes,
            write_limit=(slow, slow // 2) if slow is not None else 2**15,
            create_connection=_connection_class(self, slow is not None),
        )
        self._loops = [asyncio.create_task(self._consume(), name="gateway-consume"),
                       asyncio.create_task(self._sweep(), name="gateway-sweep"),
                       asyncio.create_task(self._probe_upstream(), name="gateway-probe"),
                       asyncio.create_task(self._report_presence(), name="gateway-presence")]
        for task in self._loops:
            task.add_done_callback(_log_crash)

    async def close(self) -> None:
        """Stop accepting, close every client with 1001, stop consuming."""
        if self._server is not None:
            self._server.close()  # closes open connections with 1001 (going away)
            await self._server.wait_closed()
        for task in self._loops:
            task.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._loops, *self._tasks, return_exceptions=True)
        if self._producer is not None:
            # The readers this process counted leave the total now, not after the ttl.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._send_reports(self.presence.farewell()), 5.0)
            await self._producer.stop()
        if self._consumer is not None:
            await self._consumer.stop()
        if self._http is not None:
            await self._http.aclose()
            asyncio.get_running_loop().set_exception_handler(self._previous_handler)

    async def __aenter__(self) -> Gateway:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    @property
    def port(self) -> int:
        """The port actually bound (useful with ``gateway_port=0``)."""
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- websocket connections -----------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        limit = self.options.max_connections
        if limit is not None and len(self.core.connections) >= limit:
            self.metrics.server_full_closes += 1
            await ws.close(CloseCode.SERVER_FULL, "server_full")
            return
        if not self._origin_allowed(ws.request.headers.get("Origin") if ws.request else None):
            # Accepted only to say why: browsers show a refused handshake as a bare 1006, and
            # a client must not retry this one. Nothing the client sends is ever read.
            await ws.close(CloseCode.ORIGIN_FORBIDDEN, "origin_forbidden")
            return
        address = self._client_address(ws)
        if not self.addresses.acquire(address):
            self.metrics.address_limit_closes += 1
            await ws.close(CloseCode.TOO_MANY_CONNECTIONS, "too_many_connections")
            return
        try:
            await self._serve_client(ws)
        finally:
            self.addresses.release(address)

    async def _serve_client(self, ws: ServerConnection) -> None:
        # The handshake's headers are not needed again: ~3 KiB per idle connection. Clearing
        # them too matters: websockets' protocol parser keeps its own reference to the request.
        if ws.request is not None:
            ws.request.headers.clear()
        ws.request, ws.response = _HANDSHAKE_DONE, None
        core = self.core
        core.connect(ws, time.monotonic())
        try:
            async for message in ws:
                self._run(core.receive(ws, message, time.monotonic()))
        except ConnectionClosed:
            pass
        finally:
            core.disconnect(ws, time.monotonic())

    def _client_address(self, ws: ServerConnection) -> str:
        """The client's address: the peer's, or the one a trusted proxy forwarded for."""
        peer = str(ws.remote_address[0]) if ws.remote_address else ""
        proxies = self.options.trusted_proxies
        if proxies and peer in proxies and ws.request is not None:
            # The proxy appends the address it saw, so the last entry is the one it vouches for.
            forwarded = ws.request.headers.get("X-Forwarded-For", "").rpartition(",")[2].strip()
            if forwarded:
                return forwarded
        return peer

    def slow_consumer(self, ws: ServerConnection) -> None:
        """``ws`` passed the unsent-bytes limit and has a close frame queued: finish it."""
        self.metrics.slow_consumer_closes += 1
        self._spawn(self._finish_close(ws))

    async def _finish_close(self, ws: ServerConnection) -> None:
        ws.send_data()  # the close frame, behind what is already buffered
        # Waits close_timeout for the client's answer, then drops the TCP connection.
        await ws.close()

    def _run(self, actions: list[Action[ServerConnection]],
             outbox: Outbox[ServerConnection] | None = None) -> None:
        """Carry out the core's actions; frames wait in ``outbox`` when one is given (the
        caller flushes it), else they are written before this returns."""
        own = outbox is None
        out: Outbox[ServerConnection] = Outbox() if outbox is None else outbox
        metrics = self.metrics
        for action in actions:
            if isinstance(action, Broadcast):
                handles = action.handles
                if not handles:
                    continue
                out.add(handles, Wire(action.frame))
                metrics.sent(len(handles), len(action.frame))
                if action.source_time is not None:
                    self._observe_latency(action.source_time)
            elif isinstance(action, Send):
                out.add((action.handle,), Wire(action.frame))
                metrics.sent(1, len(action.frame))
            elif isinstance(action, Close):
                self._spawn(action.handle.close(action.code, action.reason))
            elif isinstance(action, FetchSnapshot):
                self._spawn(self._fetch_snapshot(action))
            else:
                assert isinstance(action, FetchHistory)
                self._spawn(self._fetch_history(action))
        if own:
            self._flush(out)

    def _flush(self, outbox: Outbox[ServerConnection]) -> None:
        """Each connection's queued frames, in order, in one write (or a few near the limit)."""
        limit = self.options.slow_consumer_bytes
        for ws, wires in outbox.queued.items():
            protocol = ws.protocol
            if protocol.state is not State.OPEN:
                continue  # closing: nothing may follow its close frame (as broadcast skips it)
            try:
                if protocol.extensions:
                    # Compression keeps per-connection state: frame each one on this connection.
                    frames: list[bytes] = []
                    for wire in wires:
                        protocol.send_text(wire.payload)
                        frames.extend(protocol.data_to_send())
                else:
                    frames = [wire.data for wire in wires]
                write_frames(ws.transport, frames, limit, partial(_is_open, protocol))
            except Exception as exc:  # one broken socket must not stop the others' frames
                log.warning("skipped %d frames to a connection: %s", len(wires), exc)

    def deliver(self, records: Iterable[FeedRecord], now: float) -> None:
        """Apply ``feed.updates`` records (one fetched batch) and send what they cause: every
        frame a connection is due from the batch goes out in one write."""
        core, metrics = self.core, self.metrics
        outbox: Outbox[ServerConnection] = Outbox()
        for record in records:
            key, value = record.key, record.value
            if value is None:
                continue
            # The key is the channel: skip what nobody here follows, undecoded.
            if key is not None and not core.tracks(key.decode("utf-8", "replace")):
                continue
            try:
                updates = parse_updates(value)
            except BadUpdateError as exc:
                metrics.bad_updates += 1
                log.warning("skipping %s record at %s/%s: %s", self.topic,
                            record.partition, record.offset, exc)
                continue
            for update in updates:  # one frame per update, as before batching
                self._run(core.receive_update(update, now), outbox)
        self._flush(outbox)

    def _observe_latency(self, source_time: str) -> None:
        try:
            sent = datetime.fromisoformat(source_time).timestamp()
        except ValueError:
            return
        self.metrics.observe_latency(max(0.0, time.time() - sent))

    # -- HTTP on the same port -----------------------------------------------------------------

    async def _process_request(self, ws: ServerConnection, request: Request) -> Response | None:
        path = request.path.partition("?")[0]
        if path == WS_PATH:
            upgrade = request.headers.get("Upgrade", "").lower() == "websocket"
            if not upgrade and not self._origin_allowed(request.headers.get("Origin")):
                return ws.respond(403, "origin forbidden\n")
            return None
        if path == "/healthz":
            return ws.respond(200, "ok\n")
        if path == "/readyz":
            problem = self.not_ready()
            return ws.respond(503, f"not ready: {problem}\n") if problem else ws.respond(
                200, "ready\n")
        if path == "/metrics":
            response = ws.respond(200, self.metrics.render().decode())
            response.headers["Content-Type"] = CONTENT_TYPE_LATEST
            return response
        return ws.respond(404, "not found\n")

    def _origin_allowed(self, origin: str | None) -> bool:
        # The same list the ingest API answers CORS for: the sites that embed the widgets.
        allowed = self.settings.allowed_origins
        # No Origin header: not a browser, so not a cross-site hijack.
        return allowed is None or origin is None or origin in allowed

    def not_ready(self) -> str | None:
        """Why this gateway cannot serve, or ``None`` when it can.

        Answered from this process's own state, never by asking upstream: a probe must answer
        at once however busy the streams API is, and an unreachable streams API (one worker of
        several gone, a restart) still leaves every hot channel served from here.
        """
        if any(task.done() for task in self._loops):
            return "a gateway loop stopped (see the log)"
        if not self.consumer_ready.is_set():
            return "feed.updates consumer starting"
        if self._lag is None or self._lag > self.options.ready_max_lag:
            return f"feed.updates consumer behind ({self._lag} records)"
        return None

    async def _probe_upstream(self) -> None:
        """Keep ``upstream_up`` current while no fetch tells (a client of its own, so a probe
        never waits behind queued fetches)."""
        async with httpx.AsyncClient(base_url=self.settings.streams_base_url,
                                     timeout=2.0) as client:
            while True:
                try:
                    response = await client.get("/healthz")
                    self._upstream(response.status_code < 500)
                except httpx.HTTPError:
                    self._upstream(False)
                await asyncio.sleep(UPSTREAM_PROBE_S)

    def _upstream(self, up: bool) -> None:
        if up != self.upstream_up:
            log.warning("streams API %s", "answers again" if up else
                        "unreachable: cold subscribes and history get 'unavailable', hot "
                        "channels are still served")
        self.upstream_up = up

    # -- the streams query API -----------------------------------------------------------------

    async def _fetch_snapshot(self, request: FetchSnapshot) -> None:
        assert self._http is not None
        channel, upstream = request.channel, request.upstream
        params = ({"limit": self.options.snapshot_comments}
                  if upstream.startswith("article:") else None)
        try:
            response = await self._http.get(
                f"/v1/channels/{quote(upstream, safe=':')}/snapshot", params=params)
            if response.status_code != 200:
                raise UpstreamError(f"HTTP {response.status_code}",
                                    status=response.status_code)
            snap = parse_snapshot(loads(response.content), upstream)
            if is_private(upstream):
                snap = check_moderation_snapshot(snap)
        except Exception as exc:  # whatever went wrong, the waiting clients must hear of it
            expected = isinstance(exc, httpx.HTTPError | UpstreamError | ValueError)
            log.warning("snapshot of %s failed: %s", channel, exc, exc_info=not expected)
            self.metrics.upstream_request("snapshot", "error")
            self._upstream(_answers(exc))
            self._run(self.core.snapshot_failed(channel, time.monotonic()))
            return
        self._upstream(True)
        self.metrics.upstream_request("snapshot", "ok")
        self._run(self.core.snapshot_fetched(channel, snap, time.monotonic()))

    async def _fetch_history(self, request: FetchHistory[ServerConnection]) -> None:
        assert self._http is not None
        params: dict[str, str | int] = {"limit": request.limit}
        if request.before is not None:
            params["before"] = request.before
        if request.sort != "newest":
            params["sort"] = request.sort
        try:
            response = await self._http.get(
                f"/v1/articles/{quote(request.article_id, safe='')}/comments", params=params)
            if response.status_code != 200:
                # A 4xx other than a timeout or throttling: the request itself was bad.
                client_fault = 400 <= response.status_code < 500 and response.status_code not in (
                    408, 429)
                raise UpstreamError(f"HTTP {response.status_code}", retriable=not client_fault,
                                    status=response.status_code)
            doc = loads(response.content)
            comments, cursor = parse_history(doc)
        except Exception as exc:  # whatever went wrong, the client must hear of it
            refused = isinstance(exc, UpstreamError) and not exc.retriable
            self.metrics.upstream_request("history", "refused" if refused else "error")
            if not refused:
                expected = isinstance(exc, httpx.HTTPError | UpstreamError | ValueError)
                log.warning("history of %s failed: %s", request.channel, exc,
                            exc_info=not expected)
                self._upstream(_answers(exc))
            self._run(self.core.history_failed(request, time.monotonic(), refused=refused))
            return
        self._upstream(True)
        self.metrics.upstream_request("history", "ok")
        self._run(self.core.history_fetched(request, comments, cursor, history_floor(doc)))

    # -- feed.updates --------------------------------------------------------------------------

    async def _open_consumer(self) -> tuple[AIOKafkaConsumer, list[TopicPartition]]:
        while True:
            consumer = make_consumer(self.settings, group_id=None, auto_offset_reset="latest",
                                     client_id="commentfeed-gateway")
            try:
                await consumer.start()
                await consumer.topics()  # metadata for every topic, ours included
                partitions = consumer.partitions_for_topic(self.topic)
                if partitions:
                    tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
                    consumer.assign(tps)
                    await consumer.seek_to_end(*tps)
                    for tp in tps:  # resolve the end offsets now: "from here on"
                        await consumer.position(tp)
                    return consumer, tps
                log.warning("topic %s does not exist yet; waiting", self.topic)
            except KafkaError as exc:
                log.warning("cannot consume %s yet: %s", self.topic, exc)
            await consumer.stop()
            await asyncio.sleep(1.0)

    async def _consume(self) -> None:
        consumer, tps = await self._open_consumer()
        self._consumer = consumer
        self.consumer_ready.set()
        while True:
            try:
                batches = await consumer.getmany(timeout_ms=200, max_records=5000)
            except KafkaError as exc:
                log.warning("consuming %s: %s", self.topic, exc)
                await asyncio.sleep(0.5)
                continue
            now = time.monotonic()
            for records in batches.values():
                self.deliver(records, now)
            await self._update_lag(consumer, tps)

    async def _update_lag(self, consumer: AIOKafkaConsumer, tps: list[TopicPartition]) -> None:
        lag = 0
        for tp in tps:
            highwater = consumer.highwater(tp)
            if highwater is None:
                return  # no fetch answer for this partition yet
            lag += max(0, highwater - await consumer.position(tp))
        self._lag = self.metrics.consume_lag = lag

    # -- gateway.presence ----------------------------------------------------------------------

    async def _report_presence(self) -> None:
        while True:
            producer = make_producer(self.settings, client_id="commentfeed-gateway", acks=1)
            try:
                await producer.start()
                break
            except KafkaError as exc:
                log.warning("cannot report presence yet: %s", exc)
            await producer.stop()
            await asyncio.sleep(1.0)
        self._producer = producer
        while True:
            await asyncio.sleep(1.0)
            reports = self.presence.tick(self.core.article_viewers(), time.monotonic())
            await self._send_reports(reports)

    async def _send_reports(self, reports: list[Report]) -> None:
        assert self._producer is not None
        at, ttl_s = utc_now(), self.options.presence_ttl_s
        for report in reports:
            record = GatewayPresence(subject=report.article_id, time=at, data=GatewayPresenceData(
                gateway=self.gateway_id, article_id=report.article_id, viewers=report.viewers,
                at=at, ttl_s=ttl_s))
            try:
                # Queued, not awaited: a report lost to a broker error is repeated by the next
                # heartbeat, and nothing here may wait for the broker.
                await self._producer.send(self.presence_topic, encode(record),
                                          key=report.article_id.encode())
                self.presence_reports += 1
            except KafkaError as exc:
                log.warning("presence report of %s not sent: %s", report.article_id, exc)

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self._run(self.core.sweep(time.monotonic()))


def token_verifier(settings: Settings) -> Verifier | None:
    """``auth`` checks the ingest API's reader tokens, under the same settings; no secret, no
    logins."""
    if settings.jwt_secret is None:
        return None
    secret = settings.jwt_secret.get_secret_value()
    policy = policy_from_settings(settings)

    def verify(token: str) -> tuple[Reader, float]:
        now = datetime.now(UTC)
        reader, expires = verify_session(token, secret, policy=policy, now=now)
        return reader, max(0.0, (expires - now).total_seconds() + policy.leeway_s)

    return verify


def _is_open(protocol: ServerProtocol) -> bool:
    return protocol.state is State.OPEN


def _answers(exc: Exception) -> bool:
    """Whether a failed request still shows a working streams API (it answered, not 5xx)."""
    if isinstance(exc, httpx.TransportError):
        return False
    return not (isinstance(exc, UpstreamError) and exc.status is not None and exc.status >= 500)


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("%s stopped; /readyz now fails", task.get_name(), exc_info=task.exception())


def serve(
    settings: Settings | None = None, options: GatewaySettings | None = None, **knobs: Any,
) -> Gateway:
    """A gateway on ``settings.host:settings.gateway_port`` (path ``/ws``); not started yet.

    ``async with serve(settings) as gateway: ...`` runs it. ``settings`` (default: from the
    environment) gives the port, the broker, the topic prefix, the fetch wait and the streams
    API URL. The gateway's own knobs are ``options`` (default: :class:`GatewaySettings`'s
    documented defaults, not the environment; ``gateway.cli`` passes ``GatewaySettings()``),
    and any of its fields given as a keyword argument over them: websocket options
    (``compression``, pings), limits (``None`` disables one: connections
    per process and per address, what one connection may ask of the streams API), resume
    history and upstream bounds. ``serve(settings, max_connections=None)``.
    """
    if options is None:
        options = GatewaySettings.of(**knobs)
    elif knobs:
        options = GatewaySettings.of(**{**options.model_dump(), **knobs})
    return Gateway(settings or Settings(), options)
