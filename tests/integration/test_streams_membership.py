"""Workers coming and going: two workers share the partitions while a third joins and leaves,
again and again, under a stream of comments; both stay up and every count stays exact."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import httpx
import pytest
from aiokafka import TopicPartition

from commentfeed.broker import EmbeddedBroker
from commentfeed.errors import BrokerError
from commentfeed.kafka import end_offsets, ensure_topics, make_consumer, make_producer
from commentfeed.settings import Settings
from commentfeed.topics import Topic, topic_name
from streams.process import WorkerProcess
from tests.conftest import make_settings
from tests.integration.test_streams_crash import wait_for_counts, worker_settings
from tests.integration.test_streams_support import (
    Tail,
    as_record,
    comment_stream,
    publish,
)

pytestmark = pytest.mark.integration

async def test_end_offsets_are_one_past_the_last_record_even_where_the_broker_lists_less(
    kafka_settings: Settings,
) -> None:
    topic = topic_name(kafka_settings, Topic.COMMENTS)
    tp = TopicPartition(topic, 0)
    producer = make_producer(kafka_settings, linger_ms=50)
    await producer.start()
    try:
        sent = [await producer.send(topic, b"x", key=b"k", partition=0) for _ in range(40)]
        last = (await asyncio.gather(*sent))[-1].offset
    finally:
        await producer.stop()
    consumer = make_consumer(kafka_settings)
    await consumer.start()
    try:
        listed = await consumer.end_offsets([tp])
    finally:
        await consumer.stop()
    # Tansu lists one past the first record of the last batch; the true end is past the last.
    assert (await end_offsets(kafka_settings, [tp], listed)) == {tp: last + 1}


async def test_end_offsets_refuse_to_guess_when_the_broker_does_not_answer() -> None:
    # Table recovery reads a changelog up to these offsets: an understated end would end it
    # early with state missing, so a hung broker must be an error, not the listed offsets.
    with EmbeddedBroker() as broker:  # its own: frozen with SIGSTOP below
        settings = make_settings(broker.bootstrap)
        await ensure_topics(settings)
        topic = topic_name(settings, Topic.COMMENTS)
        tp = TopicPartition(topic, 0)
        producer = make_producer(settings)
        await producer.start()
        try:
            await producer.send_and_wait(topic, b"x", key=b"k", partition=0)
        finally:
            await producer.stop()
        pid = broker.pid
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            with pytest.raises(BrokerError, match=rf"{topic}\[0\]"):
                await end_offsets(settings, [tp], {tp: 1}, timeout_s=2)
            assert time.monotonic() - started < 30  # bounded, not hung
        finally:
            os.kill(pid, signal.SIGCONT)


async def settled_counts(base_url: str, truth: dict[str, int], timeout_s: float) -> None:
    """Wait until ``base_url`` answers the true counts; a 503 (a partition between owners,
    routed to a worker still restoring) is asked again."""
    try:
        await wait_for_counts(base_url, truth, timeout_s)
    except httpx.HTTPStatusError as exc:
        if exc.response.status_code != 503:
            raise
        await settled_counts(base_url, truth, timeout_s)


#: Times the third worker joins and leaves.
VISITS = 3


async def test_a_third_worker_joining_and_leaving_keeps_both_workers_up_and_counts_exact(
    broker: EmbeddedBroker, tmp_path: Path,
) -> None:
    base = make_settings(broker.bootstrap)
    stream = comment_stream(site="churn", n_articles=40, n_events=3000, seed=5)
    workers = [WorkerProcess(worker_settings(base, tmp_path, name), tmp_path / f"{name}.log")
               for name in ("one", "two")]
    settings: Settings = workers[0].settings
    counts = None
    try:
        for w in workers:
            w.start()
        for w in workers:
            await asyncio.to_thread(w.wait_ready, 90)
        counts = await Tail(settings, topic_name(settings, Topic.FEED_COUNTS)).start()
        await publish(settings, [as_record(settings, e) for e in stream.articles])
        publishing = asyncio.create_task(publish(
            settings, [as_record(settings, e) for e in stream.comments], per_second=300))
        for visit in range(VISITS):
            third = WorkerProcess(worker_settings(base, tmp_path, f"three-{visit}"),
                                  tmp_path / f"three-{visit}.log").start()
            try:
                await asyncio.to_thread(third.wait_ready, 90)
            finally:
                assert third.stop(timeout_s=15) == 0, third.log_path.read_text()[-3000:]
            for w in workers:
                assert w.process is not None
                assert w.process.poll() is None, w.log_path.read_text()[-5000:]
        await publishing
        for w in workers:
            await settled_counts(w.url, stream.counts, timeout_s=60)
        for w in workers:
            assert w.process is not None
            assert w.process.poll() is None, w.log_path.read_text()[-5000:]
            assert "ConsistencyError" not in w.log_path.read_text()
    finally:
        if counts is not None:
            await counts.stop()
        for w in workers:
            w.stop()
