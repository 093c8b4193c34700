"""Wire bytes of what the worker emits: ``feed.updates``, ``feed.counts``, ``comments.dlq``,
and the internal recent-list facts.

Pure functions from fold results to bytes in the contract's shapes (``FeedUpdate``,
``FeedCount``, ``DeadLetter`` in commentfeed/events.py). Envelope ids are derived from channel,
epoch and offset, so a replayed update is recognisably the same record.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from commentfeed import codec
from streams.logic import ChannelUpdate, CountChanged, Rejected, iso

SOURCE = "commentfeed/streams"


def feed_update_record(update: ChannelUpdate, now: datetime) -> bytes:
    return codec.dumps({
        "specversion": "1.0",
        "id": f"{update.channel}@{update.epoch}:{update.offset}",
        "source": SOURCE,
        "type": f"feed.{update.kind}",
        "time": iso(now),
        "subject": update.channel,
        "datacontenttype": "application/json",
        "data": {
            "channel": update.channel, "epoch": update.epoch, "offset": update.offset,
            "kind": update.kind, "payload": update.payload, "source_time": update.source_time,
        },
    })


def feed_count_record(count: CountChanged, now: datetime) -> bytes:
    return codec.dumps({
        "specversion": "1.0",
        "id": f"count:{count.article_id}@{count.epoch}:{count.offset}",
        "source": SOURCE,
        "type": "feed.count",
        "time": iso(now),
        "subject": count.article_id,
        "datacontenttype": "application/json",
        "data": {"article_id": count.article_id, "site": count.site, "count": count.count,
                 "epoch": count.epoch, "offset": count.offset},
    })


def fact_record(fact: dict[str, Any]) -> bytes:
    return codec.dumps(fact)


def dead_letter_record(rejected: Rejected, *, raw: bytes, topic: str, partition: int,
                       offset: int, key: bytes | None) -> bytes:
    """A well-formed event the state refused, with its reason and original bytes."""
    return codec.encode(codec.refused_letter(
        rejected.reason, rejected.field, rejected.detail, raw=raw, topic=topic,
        partition=partition, offset=offset, key=key))
