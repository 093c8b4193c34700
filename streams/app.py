"""The Faust app of the streams worker, built from commentfeed settings.

Two agents, each a loop over batches of Faust events handing them to :mod:`streams.agents`:

- ``fold`` reads ``articles`` and ``comments`` (one agent, so one order per partition) into the
  ``state`` table, a fetched batch at a time, and writes ``feed.updates``, ``feed.counts``,
  ``comments.dlq`` and recent-list facts re-keyed by site to an internal topic;
- ``recent`` reads that internal topic into the ``sites`` table (all of a site's facts in one
  partition) in batches and writes the ``recent:<site>`` channel, once per site and batch;
- ``presence`` reads the gateways' viewer reports (``gateway.presence``) into an in-memory
  :class:`streams.presence.PresenceBoard`, and a timer writes each article's ``presence:<id>``
  channel from it (at most once per interval, on change).

Every topic name, Faust's internal ones included, carries the settings' topic prefix through
the app id. Faust reads no environment variables here (``env={}``): settings come only from
``COMMENTFEED_*``.
"""

from __future__ import annotations

import logging
import secrets
import socket
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import faust
from mode.utils.objects import cached_property
from mode.utils.queues import FlowControlEvent

from commentfeed import codec
from commentfeed.errors import EventDecodeError
from commentfeed.settings import Settings
from commentfeed.topics import Topic, topic_name, topic_specs
from streams import faust_compat
from streams.agents import Handlers, Outputs
from streams.fold import iso
from streams.presence import PresenceBoard
from streams.records import feed_updates_record
from streams.tables import PartitionCache, RecordTable, partition_for
from streams.views import register_views

#: Bumping this makes Faust use new changelog topics: state rebuilt from nothing, new epochs.
#: 2: batch marks, records without ``_seen``, recent items inside the site record.
#: 3: reply counts and placeholders, per-voter votes, best index, reports, moderation queue.
STATE_VERSION = 3
#: Input events folded per batch at most (a batch is what the consumer has queued): bounds the
#: latency a batch adds when the worker is behind.
INPUT_BATCH_MAX = 500
PRODUCER_LINGER_S = 0.0
#: State records kept decoded between batches (see ``RecordTable``): the hot ones are an
#: article, its best index and the batch marks per active article and partition.
STATE_RECORDS_DECODED = 10_000
#: Recent-list fact records folded per batch at most.
FACT_BATCH_MAX = 1000
#: How often the ``presence:`` channels are brought up to date.
PRESENCE_TICK_S = 0.5

log = logging.getLogger(__name__)


class StreamsApp(faust.App):
    """A Faust app that knows its commentfeed settings and its tables."""

    settings: Settings
    state_table: RecordTable
    site_table: RecordTable
    handlers: Handlers
    presence: PresenceBoard

    @cached_property
    def flow_control(self) -> FlowControlEvent:
        """Flow into stream queues; resuming running flow clears nothing (see
        :class:`streams.faust_compat.FlowControl`)."""
        return faust_compat.FlowControl(loop=self.loop)

    @property
    def namespace(self) -> str:
        """Seed of every channel epoch: changes only when the state starts from nothing."""
        return f"{self.conf.id}"

    def ready(self) -> bool:
        """Tables recovered, no rebalance running: answers are current."""
        recovery = self.tables.recovery  # type: ignore[attr-defined]
        return bool(recovery.completed.is_set() and not self.rebalancing
                    and not self.in_recovery)


def app_id(settings: Settings) -> str:
    return f"{settings.topic_prefix}commentfeed-streams"


def consumer_group(settings: Settings) -> str:
    """The worker's consumer group and the stem of its own topics: Faust adds ``-v<version>``
    to the app id from version 2 on."""
    return app_id(settings) + (f"-v{STATE_VERSION}" if STATE_VERSION > 1 else "")


def advertised_host(settings: Settings) -> str:
    """The host other workers reach this one at (its query API forwards requests there)."""
    if settings.host in ("0.0.0.0", "::", ""):
        return socket.gethostname()  # bound to every interface: the host's own name
    return settings.host


def faust_options(settings: Settings) -> dict[str, Any]:
    rebalance_s = settings.rebalance_timeout_ms / 1000
    return {
        "env": {},
        "version": STATE_VERSION,
        "autodiscover": False,
        "broker": faust_compat.broker_url(settings),
        "broker_client_id": app_id(settings),
        "broker_rebalance_timeout": rebalance_s,
        # The embedded broker holds a join for about half the session timeout; on Kafka keep
        # the rebalance timeout at or above the broker's minimum session timeout (6 s).
        "broker_session_timeout": rebalance_s,
        "broker_heartbeat_interval": rebalance_s / 4,
        "broker_commit_interval": 1.0,
        # Commit on the timer only: a commit flushes the producer, and Faust's default
        # (also every 10,000 records) stalled the drain loop mid-burst.
        "broker_commit_every": 10_000_000,
        # Faust's repaired Cython stream fast paths (no effect where the extensions are absent).
        "cython_optimizations": True,
        "consumer_auto_offset_reset": "earliest",
        "ConsumerScheduler": faust_compat.TimeOrderedScheduler,
        "TableManager": faust_compat.TableManager,
        # One in-flight request per broker, no lingering and one batch per partition: records
        # reach the broker in the order they were appended, which the crash-replay reasoning
        # relies on. With a 2 ms linger the kill -9 test lost or doubled counts in 3 of 7 runs
        # (a partition's batch leaves when it is ready, so records appended to different
        # partitions can overtake each other); with none, in none.
        "producer_linger": PRODUCER_LINGER_S,
        "producer_max_batch_size": 1024 * 1024,
        "producer_acks": -1,
        "processing_guarantee": "at_least_once",
        "store": settings.table_store,
        "datadir": settings.data_dir,
        "table_standby_replicas": 0,
        "topic_partitions": settings.partitions,
        "topic_disable_leader": True,
        "key_serializer": "raw",
        "value_serializer": "raw",
        "web_enabled": True,
        "web_port": settings.streams_port,
        "web_bind": settings.host,
        "web_host": advertised_host(settings),
        "canonical_url": f"http://{advertised_host(settings)}:{settings.streams_port}",
        "web_tables_enabled": False,
        "web_router_enabled": False,
        "web_graph_enabled": False,
        "web_stats_enabled": False,
        "web_metrics_enabled": False,
    }


def build_app(settings: Settings) -> StreamsApp:
    faust_compat.register_transport()
    app = StreamsApp(app_id(settings), **faust_options(settings))
    app.settings = settings

    def raw_topic(*names: str, **extra: Any) -> Any:
        return app.topic(*names, key_serializer="raw", value_serializer="raw", **extra)

    articles = topic_name(settings, Topic.ARTICLES)
    comments = topic_name(settings, Topic.COMMENTS)
    inputs = raw_topic(articles, comments)
    facts = raw_topic(f"{app.conf.id}-recent-facts", partitions=settings.partitions,
                      internal=True)
    partitions = {spec.name: spec.partitions for spec in topic_specs(settings)}
    partitions[facts.get_topic_name()] = settings.partitions
    outputs = Outputs(
        producer=app.producer,
        partitions=PartitionCache(partitions),
        feed_updates=topic_name(settings, Topic.FEED_UPDATES),
        feed_counts=topic_name(settings, Topic.FEED_COUNTS),
        facts=facts.get_topic_name(),
        dlq=topic_name(settings, Topic.DLQ),
    )
    app.state_table = RecordTable(app.Table("state", partitions=settings.partitions,
                                            key_type=bytes, value_type=bytes),
                                  app.producer, cache=STATE_RECORDS_DECODED)
    app.site_table = RecordTable(app.Table("sites", partitions=settings.partitions,
                                           key_type=bytes, value_type=bytes), app.producer)
    handlers = app.handlers = Handlers(
        state=app.state_table, sites=app.site_table, outputs=outputs, articles_topic=articles,
        comments_topic=comments, namespace=app.namespace,
        park_grace=timedelta(seconds=settings.park_grace_s),
        report_threshold=settings.report_threshold,
    )

    def owned() -> list[int]:
        return sorted(tp.partition for tp in app.consumer.assignment() if tp.topic == comments)

    async def sweep_parked() -> None:
        # Parked comments expire by the worker's clock too, so they leave on a partition no
        # newer record reaches. Only on recovered, settled tables this worker owns.
        if not app.ready():
            return
        partitions = owned()
        if partitions:
            await handlers.on_sweep(partitions, round(time.time() * 1000),
                                    lambda: app.ready() and owned() == partitions)

    app.timer(settings.park_sweep_s)(sweep_parked)

    @app.agent(inputs, name="fold")
    async def fold(stream: Any) -> None:
        # What one fetch returned, folded at once: each key read and written once per batch.
        # Events are acknowledged after their batch.
        async for events in faust_compat.fetched_batches(stream, INPUT_BATCH_MAX):
            await handlers.on_inputs(events)

    @app.agent(facts, name="recent")
    async def recent(stream: Any) -> None:
        # Facts come in batches (what the consumer has queued), per site one table write and
        # one update. Events are acknowledged after their batch.
        async for events in faust_compat.fetched_batches(stream, FACT_BATCH_MAX):
            await handlers.on_facts(events)

    presence_topic = topic_name(settings, Topic.GATEWAY_PRESENCE)
    # In memory only, so its epochs are new at each start (see streams.presence).
    board = app.presence = PresenceBoard(app.namespace, secrets.token_hex(8))

    @app.agent(raw_topic(presence_topic), name="presence")
    async def presence(stream: Any) -> None:
        async for events in faust_compat.fetched_batches(stream, FACT_BATCH_MAX):
            now = time.time()
            for event in events:
                message = event.message
                raw: bytes = message.value if message.value is not None else b""
                try:
                    report = codec.decode_gateway_presence(raw).data
                    if message.key != report.article_id.encode():
                        raise EventDecodeError("key_mismatch", "the record key must be "
                                               "data.article_id", field="data.article_id",
                                               raw=raw)
                except EventDecodeError as exc:
                    log.warning("bad presence report %s@%d: %s", message.topic, message.offset,
                                exc)
                    handlers.stats.dead_lettered += 1
                    await outputs.send(outputs.dlq, message.key, codec.encode(codec.dead_letter(
                        exc, raw=raw, topic=message.topic, partition=message.partition,
                        offset=message.offset, key=message.key)))
                    continue
                board.report(report.gateway, report.article_id, report.viewers, report.at,
                             report.ttl_s, now)

    async def publish_presence() -> None:
        owned = {tp.partition for tp in app.consumer.assignment() if tp.topic == presence_topic}
        n = settings.partitions
        updates = board.tick(time.time(), lambda a: partition_for(a, n) in owned)
        if updates:
            now = iso(datetime.now(UTC))
            for update in updates:
                await outputs.send(outputs.feed_updates, update.channel.encode(),
                                   feed_updates_record([update], now))

    app.timer(PRESENCE_TICK_S)(publish_presence)

    register_views(app)
    return app
