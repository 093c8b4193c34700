"""Wire bytes of what the worker emits: ``feed.updates``, ``feed.counts``, ``comments.dlq``,
and the internal recent-list facts.

Pure functions from fold results to bytes in the contract's shapes (``FeedUpdate``,
``FeedCount``, ``DeadLetter`` in commentfeed/events.py). A ``feed.updates`` record carries the
updates one batch made to one channel, in offset order; envelope ids are derived from channel,
epoch and offsets, so a replayed record is recognisably the same. ``now`` is formatted once per
batch by the caller.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from commentfeed import codec
from commentfeed.channels import ChannelUpdate
from streams.fold import CountChanged, Rejected

SOURCE = "commentfeed/streams"


def feed_updates_record(updates: Sequence[ChannelUpdate], now: str) -> bytes:
    """One record for consecutive updates of one channel (one epoch)."""
    first, last = updates[0], updates[-1]
    span = f"{first.offset}" if len(updates) == 1 else f"{first.offset}-{last.offset}"
    return codec.dumps({
        "specversion": "1.0",
        "id": f"{first.channel}@{first.epoch}:{span}",
        "source": SOURCE,
        "type": "feed.updates",
        "time": now,
        "subject": first.channel,
        "datacontenttype": "application/json",
        "data": {
            "channel": first.channel, "epoch": first.epoch,
            "updates": [{"offset": u.offset, "kind": u.kind, "payload": u.payload,
                         "source_time": u.source_time} for u in updates],
        },
    })


def feed_count_record(count: CountChanged, now: str) -> bytes:
    return codec.dumps({
        "specversion": "1.0",
        "id": f"count:{count.article_id}@{count.epoch}:{count.offset}",
        "source": SOURCE,
        "type": "feed.count",
        "time": now,
        "subject": count.article_id,
        "datacontenttype": "application/json",
        "data": {"article_id": count.article_id, "site": count.site, "count": count.count,
                 "epoch": count.epoch, "offset": count.offset},
    })


def facts_record(site: str, facts: Sequence[dict[str, Any]]) -> bytes:
    """One internal record for a batch's recent-list facts of one site."""
    return codec.dumps({"site": site, "facts": list(facts)})


def queue_facts_record(site: str, facts: Sequence[dict[str, Any]]) -> bytes:
    """One internal record of moderation-queue facts of one site (streams.modqueue)."""
    return codec.dumps({"site": site, "queue": list(facts)})


def dead_letter_record(rejected: Rejected, *, raw: bytes, topic: str, partition: int,
                       offset: int, key: bytes | None) -> bytes:
    """A well-formed event the state refused, with its reason and original bytes."""
    return codec.encode(codec.refused_letter(
        rejected.reason, rejected.field, rejected.detail, raw=raw, topic=topic,
        partition=partition, offset=offset, key=key))
