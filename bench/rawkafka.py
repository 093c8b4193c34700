"""The pipeline's raw baseline: aiokafka produce -> consume on the same broker, same rate.

``python -m bench.rawkafka consume --bootstrap B --topic T`` assigns every partition of ``T``
(no consumer group, like a gateway) with the fetch wait from settings, prints ``ready``, and on
``{"cmd": "expect", "samples": N}`` waits for N records, then on ``{"cmd": "report",
"samples": PATH}`` writes the (event time, arrival) nanosecond pairs like
:mod:`bench.viewers` does. ``python -m bench.rawkafka produce --bootstrap B --topic T --rate R
--duration D --articles N`` publishes comment-sized JSON records keyed by article at R per
second (the load generator's pacing), each stamped with its CloudEvents ``time`` just before
it is handed to the producer, and prints ``done`` with what it sent.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from array import array
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from bench.control import commands, emit
from bench.samples import iso_to_ns, write_samples
from commentfeed.kafka import make_consumer, make_producer
from commentfeed.settings import Settings

BODY = ("Council budget ferry night market tram summer vote river council budget ferry night "
        "market tram.")


def comment_record(article_id: str, n: int, now: datetime) -> bytes:
    """A ``comment.posted`` CloudEvent as raw JSON (no validation: this is the raw path)."""
    stamp = now.isoformat().replace("+00:00", "Z")
    return orjson.dumps({
        "specversion": "1.0", "id": uuid.uuid4().hex, "source": "bench/raw", "time": stamp,
        "subject": article_id, "datacontenttype": "application/json",
        "type": "comment.posted",
        "data": {"comment_id": f"c-raw-{n}", "article_id": article_id, "site": "load",
                 "parent_id": None, "author": {"id": f"u-{n % 500}", "name": f"Reader {n % 500}"},
                 "body": BODY, "posted_at": stamp, "status": "visible"},
    })


async def create_topic(settings: Settings, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        response = await admin.create_topics([NewTopic(topic, settings.partitions, 1)])
        for name, code, message in response.topic_errors:
            if code not in (0, TopicAlreadyExistsError.errno):
                raise RuntimeError(f"creating {name}: {code} {message}")
    finally:
        await admin.close()


async def produce(settings: Settings, topic: str, rate: float, duration_s: float,
                  articles: int) -> dict[str, Any]:
    await create_topic(settings, topic)
    producer = make_producer(settings, client_id="bench-raw-producer")
    await producer.start()
    keys = [f"raw-a{i}".encode() for i in range(articles)]
    total = max(1, round(rate * duration_s))
    pending: list[asyncio.Future[Any]] = []
    try:
        sent = 0
        start = time.perf_counter()
        while sent < total:
            due = min(total, int((time.perf_counter() - start) * rate) + 1)
            while sent < due:
                key = keys[sent % articles]
                value = comment_record(key.decode(), sent, datetime.now(UTC))
                pending.append(await producer.send(topic, value=value, key=key))
                sent += 1
            delay = start + sent / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        results = await asyncio.gather(*pending, return_exceptions=True)
        elapsed = time.perf_counter() - start
    finally:
        await producer.stop()
    failed = sum(1 for r in results if isinstance(r, BaseException))
    return {"event": "done", "sent": sent, "failed": failed, "elapsed_s": elapsed,
            "achieved_rate": (sent - failed) / elapsed}


async def consume(settings: Settings, topic: str) -> None:
    await create_topic(settings, topic)
    consumer = make_consumer(settings, group_id=None, client_id="bench-raw-consumer")
    await consumer.start()
    published, arrived = array("q"), array("q")
    want: list[int] = [0]
    reached = asyncio.Event()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        for tp in tps:
            await consumer.position(tp)

        async def loop() -> None:
            while True:
                batches = await consumer.getmany(timeout_ms=200, max_records=5000)
                now = time.time_ns()
                for records in batches.values():
                    for record in records:
                        published.append(iso_to_ns(orjson.loads(record.value)["time"]))
                        arrived.append(now)
                if want[0] and len(published) >= want[0]:
                    reached.set()

        task = asyncio.create_task(loop())
        emit({"event": "ready", "partitions": len(tps)})
        async for command in commands():
            cmd = command.get("cmd")
            if cmd == "expect":
                want[0] = int(command["samples"])
                ok = True
                if len(published) < want[0]:
                    reached.clear()
                    try:
                        async with asyncio.timeout(float(command.get("timeout", 60))):
                            await reached.wait()
                    except TimeoutError:
                        ok = False
                emit({"event": "done", "ok": ok, "samples": len(published)})
            elif cmd == "report":
                write_samples(command["samples"], published, arrived)
                emit({"event": "report", "samples": len(published)})
        task.cancel()
    finally:
        await consumer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="raw aiokafka produce -> consume baseline")
    parser.add_argument("role", choices=("produce", "consume"))
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", default="bench.raw")
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--articles", type=int, default=20)
    parser.add_argument("--fetch-wait-ms", type=int, default=None)
    args = parser.parse_args()
    settings = Settings.explicit(kafka_bootstrap=args.bootstrap)
    if args.fetch_wait_ms is not None:
        settings = settings.model_copy(update={"fetch_wait_ms": args.fetch_wait_ms})
    if args.role == "produce":
        emit(asyncio.run(produce(settings, args.topic, args.rate, args.duration,
                                 args.articles)))
    else:
        asyncio.run(consume(settings, args.topic))


if __name__ == "__main__":
    main()
