"""Snapshot and history-page cost against the number of deleted comments (issue 12).

Folds one article with 50 visible comments and N deleted ones through the real fold into a
dict, then times ``article_snapshot`` and the first ``history`` page on it and counts the
records each reads. Unit level (no broker, no Faust): the walk itself, not the I/O around it.

    .venv/bin/python -m bench.snapshot_removed
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from commentfeed import codec
from commentfeed.events import (
    ArticleData,
    ArticlePublished,
    Author,
    CommentDeleted,
    CommentDeletedData,
    CommentPosted,
    CommentPostedData,
    InputEvent,
)
from streams import queries
from streams.fold import fold_batch
from streams.shapes import ARTICLES, COMMENTS, Position, Record

T0 = datetime(2026, 3, 14, 9, 0, tzinfo=UTC)


def _store(removed: int) -> dict[str, Record]:
    events: list[InputEvent] = [ArticlePublished(id="p", subject="a", data=ArticleData(
        article_id="a", site="s", title="t", url="https://x.example/a", author="e",
        published_at=T0))]
    ids = [f"c{i}" for i in range(removed + 50)]
    for n, cid in enumerate(ids):
        events.append(CommentPosted(id=f"post-{cid}", subject="a", data=CommentPostedData(
            comment_id=cid, article_id="a", site="s", parent_id=None,
            author=Author(id="u", name="U"), body="words " * 40,
            posted_at=T0 + timedelta(seconds=n), status="visible")))
    for cid in ids[:removed]:  # the oldest ones, so the walk would pass them all
        events.append(CommentDeleted(id=f"del-{cid}", subject="a", data=CommentDeletedData(
            comment_id=cid, article_id="a", site="s", deleted_by="u")))
    store: dict[str, Record] = {}
    offsets = {ARTICLES: 0, COMMENTS: 0}
    for start in range(0, len(events), 500):
        batch = []
        for e in events[start:start + 500]:
            topic = ARTICLES if e.type.startswith("article.") else COMMENTS
            batch.append((e, Position(topic, offsets[topic]), codec.encode(e)))
            offsets[topic] += 1
        out = fold_batch(batch, store.get, namespace="bench")
        for writes in out.writes.values():
            for k, v in writes.items():
                if v is None:
                    store.pop(k, None)
                else:
                    store[k] = v
    return store


def measure(removed: int, rounds: int = 200) -> tuple[float, int]:
    store = _store(removed)
    reads = 0

    def read(key: str) -> Record | None:
        nonlocal reads
        reads += 1
        return store.get(key)

    started = time.perf_counter()
    for _ in range(rounds):
        queries.article_snapshot("a", read, limit=50, namespace="bench")
        queries.history("a", read, before=None, limit=50)
    return (time.perf_counter() - started) / rounds * 1000, reads // rounds


def main() -> None:
    for removed in (0, 4_000):
        ms, reads = measure(removed)
        print(f"{removed:>5} deleted: snapshot + history page {ms:.2f} ms, {reads} records read")


if __name__ == "__main__":
    main()
