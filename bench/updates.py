"""Synthetic channel updates for the fan-out benchmark, as records and as client frames.

:func:`feed_updates` makes what the streams worker would write for a run of new comments on one
article (``comment.added`` then ``count``, alternating), as ``feed.updates`` record values;
:func:`update_frames` makes the frames a gateway sends for them, byte for byte (protocol v1
``update`` frames), which the raw baseline broadcasts as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from commentfeed import codec
from commentfeed.events import (
    Author,
    CommentView,
    CountPayload,
    FeedUpdate,
    FeedUpdateData,
    FeedUpdateItem,
)

WORDS = ("river", "council", "budget", "ferry", "night", "market", "tram", "summer", "vote")


@dataclass(frozen=True, slots=True)
class SyntheticUpdate:
    channel: str
    epoch: str
    offset: int
    kind: str
    payload: dict[str, Any]
    source_time: str


def synthetic_updates(article_id: str, epoch: str, count: int, *, first_offset: int = 1,
                      start: datetime | None = None) -> list[SyntheticUpdate]:
    """``count`` updates of ``article:<article_id>`` at offsets ``first_offset`` onwards."""
    base = start or datetime(2026, 1, 1, tzinfo=UTC)
    channel = f"article:{article_id}"
    out: list[SyntheticUpdate] = []
    comments = first_offset // 2
    for offset in range(first_offset, first_offset + count):
        moment = base + timedelta(milliseconds=offset)
        if offset % 2:
            comments += 1
            words = " ".join(WORDS[(offset + i) % len(WORDS)] for i in range(12 + offset % 17))
            payload = CommentView(
                comment_id=f"c-{comments}", article_id=article_id, parent_id=None,
                author=Author(id=f"u-{comments % 97}", name=f"Reader {comments % 97}"),
                body=words.capitalize() + ".", posted_at=moment,
            ).model_dump(mode="json")
            kind = "comment.added"
        else:
            payload = CountPayload(article_id=article_id, count=comments).model_dump(mode="json")
            kind = "count"
        out.append(SyntheticUpdate(channel, epoch, offset, kind, payload,
                                   moment.isoformat().replace("+00:00", "Z")))
    return out


def feed_updates(updates: list[SyntheticUpdate]) -> list[tuple[bytes, bytes]]:
    """``(key, value)`` of the ``feed.updates`` record of each update."""
    records = []
    for u in updates:
        item = FeedUpdateItem(offset=u.offset, kind=u.kind, payload=u.payload,
                              source_time=datetime.fromisoformat(u.source_time))
        event = FeedUpdate(subject=u.channel, data=FeedUpdateData(
            channel=u.channel, epoch=u.epoch, updates=[item]))
        records.append((u.channel.encode(), codec.encode(event)))
    return records


def update_frames(updates: list[SyntheticUpdate]) -> list[bytes]:
    """The protocol v1 ``update`` frame of each update, as a gateway encodes it."""
    return [codec.dumps({"op": "update", "channel": u.channel, "epoch": u.epoch,
                         "offset": u.offset, "type": u.kind, "data": u.payload})
            for u in updates]
