"""Every Faust and aiokafka internal the streams worker relies on, in one place.

The worker uses faust-streaming as an engine but needs a few things its public API does not
offer. Each one is here, so a Faust upgrade is checked in one module (and refused at import
when the version is outside the tested range):

- the transport registered as ``commentfeed://``: consumers take the fetch wait from settings
  (faust-streaming's aiokafka driver hard-codes ``fetch_max_wait_ms=1500`` and the embedded
  broker holds every Fetch for that long) and back off while idle, and the producer takes
  idempotence from settings;
- the highwaters table recovery reads (end offsets of changelog partitions) made true on
  Tansu, whose ``ListOffsets`` understates them (else ``ConsistencyError`` once a worker that
  kept a partition through a rebalance had read past the understated end);
- the scheduler that hands out the records of one fetch in timestamp order across topics, so
  an article published just before its first comment is folded first;
- a table manager without Faust's one-second grace for tables declared late;
- the current-event context variable a rocksdb store uses to pick a key's partition (the
  worker writes table stores and changelogs itself, see :mod:`streams.tables`);
- the queue behind an agent's stream, to hand out what one fetch delivered as one batch;
- the consumer's ``wait_first`` race between delivering a record and flow being suspended,
  skipped when the delivery completes without waiting.
"""

from __future__ import annotations

import asyncio
import heapq
import re
import weakref
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import contextmanager
from importlib.metadata import version
from types import SimpleNamespace
from typing import Any, Final

from aiokafka import TopicPartition
from faust import tables as faust_tables
from faust.streams import _current_event
from faust.transport.drivers import TRANSPORTS
from faust.transport.drivers import aiokafka as driver
from faust.transport.utils import DefaultSchedulingStrategy
from mode.services import WaitResults
from mode.utils.queues import FlowControlEvent

from commentfeed.kafka import backoff_idle_fetches, end_offsets
from commentfeed.settings import Settings

#: The faust-streaming and aiokafka releases whose internals this module was checked against.
FAUST_TESTED: Final = ((0, 15), (0, 16))
AIOKAFKA_TESTED: Final = ((0, 12), (0, 15))


def _release(dist: str) -> tuple[int, int]:
    found = re.match(r"(\d+)\.(\d+)", version(dist))
    if found is None:
        raise ImportError(f"cannot read the version of {dist}: {version(dist)!r}")
    return int(found[1]), int(found[2])


def check_versions() -> None:
    """Refuse to run on releases whose internals were not checked (see the module doc)."""
    for dist, (low, high) in (("faust-streaming", FAUST_TESTED),
                              ("aiokafka", AIOKAFKA_TESTED)):
        found = _release(dist)
        if not low <= found < high:
            raise ImportError(
                f"streams.faust_compat was checked against {dist} >= {low[0]}.{low[1]}, "
                f"< {high[0]}.{high[1]}; found {version(dist)}: re-check the internals it uses")


check_versions()

SCHEME = "commentfeed"


def app_settings(app: Any) -> Settings:
    settings = getattr(app, "settings", None)
    if not isinstance(settings, Settings):
        raise TypeError("the commentfeed transport needs a streams.app.StreamsApp")
    return settings


# -- transport ---------------------------------------------------------------------------------


def _apply_fetch_wait(consumer: Any, settings: Settings) -> Any:
    # aiokafka keeps the value until start() builds its fetcher; fail loudly if that changes.
    if not hasattr(consumer, "_fetch_max_wait_ms"):
        raise RuntimeError("aiokafka changed: cannot set the consumer fetch wait")
    consumer._fetch_max_wait_ms = settings.fetch_wait_ms
    return consumer


class ConsumerThread(driver.AIOKafkaConsumerThread):
    async def on_start(self) -> None:
        await super().on_start()
        # Faust's one consumer reads every input, internal and changelog topic: when they are
        # all quiet it need not ask the broker every few milliseconds.
        backoff_idle_fetches(self._consumer, app_settings(self.app).fetch_wait_idle_ms)

    async def _highwaters(self, partitions: Any) -> Mapping[Any, int]:
        # Faust's table recovery raises ConsistencyError when an offset it has read is past
        # the highwater, and stops reading a changelog at the highwater: both need the true
        # end, which Tansu's ListOffsets understates (see commentfeed.kafka.end_offsets).
        listed = await super()._highwaters(partitions)
        if self.consumer.in_transaction:
            return listed
        tps = list(partitions)
        true = await end_offsets(app_settings(self.app),
                                 [TopicPartition(tp.topic, tp.partition) for tp in tps],
                                 {TopicPartition(tp.topic, tp.partition): v
                                  for tp, v in listed.items() if v is not None})
        out = dict(listed)
        for tp in tps:
            found = true.get(TopicPartition(tp.topic, tp.partition))
            if found is not None:
                out[tp] = found
        return out

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        return _apply_fetch_wait(consumer, app_settings(self.app))

    def _create_client_consumer(self, transport: Any) -> Any:
        consumer = super()._create_client_consumer(transport)
        return _apply_fetch_wait(consumer, app_settings(self.app))


class Consumer(driver.Consumer):
    def _new_consumer_thread(self) -> ConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def wait_first(self, *coros: Any, timeout: Any = None) -> WaitResults:  # noqa: ASYNC109 - mode's signature
        # Faust hands every fetched record to the streams through
        # ``wait_first(deliver(record), suspend_flow.wait())``: four tasks and an
        # ``asyncio.wait`` per record, about a sixth of the worker's CPU. A delivery that
        # completes without waiting (there is room in the stream's queue and flow runs) ends
        # the race before the other side could start; only one that has to wait races.
        if timeout is not None or len(coros) != 2 or not all(map(asyncio.iscoroutine, coros)):
            return await super().wait_first(*coros, timeout=timeout)
        deliver, other = coros
        try:
            started = start_eagerly(deliver)
        except BaseException:
            other.close()
            raise
        if started is None:
            other.close()
            return WaitResults([deliver], [None], False)
        return await super().wait_first(started, other)


class Producer(driver.Producer):
    # Table writes do not go through Faust's changelog buffer (see streams.tables): they are
    # in the client once written, and Faust's flush before a commit waits for the client.

    def _settings_extra(self) -> Mapping[str, Any]:
        extra = dict(super()._settings_extra())
        extra.setdefault("enable_idempotence", app_settings(self.app).idempotent_producer)
        return extra


class Transport(driver.Transport):
    Consumer = Consumer
    Producer = Producer


def register_transport() -> None:
    """Make ``commentfeed://host:port`` resolve to :class:`Transport` (idempotent)."""
    TRANSPORTS[SCHEME] = f"{__name__}:Transport"


def broker_url(settings: Settings) -> str:
    return ";".join(f"{SCHEME}://{host.strip()}"
                    for host in settings.kafka_bootstrap.split(",") if host.strip())


class TimeOrderedScheduler(DefaultSchedulingStrategy):
    """Deliver the records of one fetch merged by timestamp (each partition stays in order)."""

    def __init__(self) -> None:
        pass  # stateless; the base declares __init__ abstract

    def iterate(self, records: Mapping[Any, list[Any]]) -> Iterator[tuple[Any, Any]]:
        streams = [_tagged(tp, batch) for tp, batch in records.items()]
        return heapq.merge(*streams, key=lambda item: item[1].timestamp)


def _tagged(tp: Any, batch: list[Any]) -> Iterator[tuple[Any, Any]]:
    return ((tp, record) for record in batch)


# -- eager delivery ----------------------------------------------------------------------------


class Started:
    """A coroutine already run up to its first wait, to be awaited (or made a task) as if it
    had not started: the task that awaits this waits on what the coroutine waits on, and
    sends, throws (cancellation) and closes go on to the coroutine."""

    def __init__(self, coro: Any, waiting_on: Any) -> None:
        self._coro = coro
        self._waiting_on = waiting_on

    def __await__(self) -> Any:
        coro, out = self._coro, self._waiting_on
        while True:
            try:
                sent = yield out
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # passed on, as a task would
                try:
                    out = coro.throw(exc)
                except StopIteration as done:
                    return done.value
                continue
            try:
                out = coro.send(sent)
            except StopIteration as done:
                return done.value


def start_eagerly(coro: Any) -> Started | None:
    """Run ``coro`` up to its first wait: ``None`` when it finished without one (its errors
    are raised here), else what is left of it as an awaitable."""
    try:
        waiting_on = coro.send(None)
    except StopIteration:
        return None
    return Started(coro, waiting_on)


# -- flow control ------------------------------------------------------------------------------


class FlowControl(FlowControlEvent):
    """Faust's flow control into stream queues, except that resuming flow that already runs
    leaves the queues alone.

    Resuming clears every stream queue (to drop what was queued for an old assignment). After
    table recovery Faust resumes flow for the changelogs, then resumes the input partitions,
    seeks them to their committed offsets and only then resumes flow again. Whatever the
    consumer delivered during that seek (a fetch of the inputs from the committed offsets) was
    in a queue when the second resume cleared it, and its offsets were already marked read, so
    this process never saw those events again: counts stayed short for good and the committed
    offset stopped at the first lost event (the "stall" after a restart). When exactly one event
    at the committed offset was lost, Faust's commit stepped over it: a count one low even
    after further restarts. A queue is still cleared when flow resumes after a suspension
    (a rebalance), as Faust intends.
    """

    def resume(self) -> None:
        if self.is_active():
            return
        super().resume()


# -- tables ------------------------------------------------------------------------------------


class TableManager(faust_tables.TableManager):
    """Faust's table manager without its one-second grace for tables declared late.

    Every table here exists before the app starts, so the grace only delays readiness. The body
    is Faust's ``on_start`` without the sleep.
    """

    async def on_start(self) -> None:
        if not self.should_stop:
            await self._update_channels()
            await self.recovery.start()


@contextmanager
def writing_for(event: Any) -> Iterator[None]:
    """Table writes inside this block go to the changelog partition of ``event``.

    A batch handed out by ``Stream.take_events`` is processed outside Faust's per-event
    context, and one batch may hold events of several partitions.
    """
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


class _Source:
    """Stands for an event of ``topic``/``partition`` where Faust looks for one."""

    def __init__(self, topic: str, partition: int) -> None:
        self.message = SimpleNamespace(topic=topic, partition=partition)


@contextmanager
def writing_to(topic: str, partition: int) -> Iterator[None]:
    """Table writes inside this block go to changelog ``partition`` (of a table fed by
    ``topic``), outside any event: the worker's sweep of parked comments."""
    source = _Source(topic, partition)
    with writing_for(source):
        yield


class _PumpStopped:
    """Put in the local queue when the stream ends: how, and with what error."""

    def __init__(self, error: Exception | None) -> None:
        self.error = error


async def fetched_batches(stream: Any, max_events: int) -> AsyncIterator[list[Any]]:
    """The events of an agent's stream in batches: whatever is queued when the first arrives.

    A batch is what one fetch delivered (or several, up to ``max_events``, when folding falls
    behind), with no timer: unlike ``Stream.take_events`` it adds no fixed wait and wakes
    nobody while idle. Events are
    acknowledged only after the caller has taken the next batch, i.e. once their batch is done.
    """
    manual = stream.noack()
    queue = manual.channel.queue
    # A pump moves delivered events into a local queue, and a batch is cut from that queue
    # without ever waiting on the stream while holding events: a rebalance suspends the stream
    # and clears its queue, then waits for every delivered event to be acknowledged, which a
    # batch waiting for the rest of its fetch would never do (the worker hung for good). The
    # local queue holds at most one batch, so the stream's own backpressure still holds.
    local: asyncio.Queue[Any] = asyncio.Queue(maxsize=max_events)

    async def pump() -> None:
        try:
            async for event in manual.events():
                await local.put(event)
        except Exception as exc:
            # Handed on, so the agent fails (and Faust's supervisor acts) instead of waiting
            # for events that will never come.
            await local.put(_PumpStopped(exc))
        else:
            await local.put(_PumpStopped(None))

    pumping = asyncio.ensure_future(pump())
    try:
        stopped: _PumpStopped | None = None
        while stopped is None:
            batch: list[Any] = []
            first = await local.get()
            if isinstance(first, _PumpStopped):
                stopped = first
                break
            batch.append(first)
            while stopped is None:
                while len(batch) < max_events and not local.empty():
                    item = local.get_nowait()
                    if isinstance(item, _PumpStopped):
                        stopped = item
                        break
                    batch.append(item)
                if stopped is not None or len(batch) >= max_events:
                    break
                await _let_the_fetch_land(queue, local)
                if local.empty():
                    break
            yield batch
            for done in batch:
                await manual.ack(done)
        if stopped.error is not None:
            raise stopped.error
    finally:
        pumping.cancel()


#: Loop turns without a new record after which the consumer is taken to be done with a fetch.
#: Between fetches it waits for the broker, so a batch ends there; when the worker is behind,
#: fetches follow each other and batches grow to their maximum, which is how it catches up.
FETCH_SETTLE_TURNS: Final = 6


async def _let_the_fetch_land(queue: Any, local: asyncio.Queue[Any]) -> None:
    """Faust's consumer puts a fetch's records into the queue one at a time, a few loop turns
    apart (each goes through ``Service.wait_first``), and the pump moves them on: yield until
    neither queue grows."""
    quiet = 0
    while quiet < FETCH_SETTLE_TURNS:
        size = queue.qsize() + local.qsize()
        await asyncio.sleep(0)
        quiet = quiet + 1 if queue.qsize() + local.qsize() == size else 0
