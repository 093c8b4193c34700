"""The "most discussed articles" view as a pure fold over ``feed.counts`` and ``comments``.

Two facts per article, each safe under at-least-once delivery and replays:

- the latest visible-comment count from ``feed.counts``: a record carries the ``article:<id>``
  channel offset it belongs to, so the view keeps the count with the highest offset and a late
  or replayed record changes nothing;
- the comments posted in a sliding window (default: the last hour) from ``comment.posted``
  events, deduplicated by ``comment_id``, so a redelivered post is counted once.

:func:`fold` never mutates its input and returns the same object when a record changes
nothing, so callers can tell a change with ``is``. No I/O, no clock: time comes in as ``now``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from commentfeed.events import CommentEvent, CommentPosted, FeedCount

ONE_HOUR = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class LatestCount:
    count: int
    #: The ``article:<id>`` channel offset this count belongs to.
    offset: int
    site: str
    #: The channel epoch; a different one means the streams rebuilt their state.
    epoch: str | None = None


@dataclass(frozen=True, slots=True)
class View:
    window: timedelta = ONE_HOUR
    #: article_id -> the count with the highest channel offset seen.
    counts: Mapping[str, LatestCount] = field(default_factory=dict)
    #: article_id -> comment_id -> posted_at, for visible posts not yet expired.
    posts: Mapping[str, Mapping[str, datetime]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Row:
    article_id: str
    #: Visible comments posted within the window.
    recent_comments: int
    #: The article's visible-comment count from ``feed.counts`` (``None``: not seen yet).
    count: int | None


def fold(view: View, record: FeedCount | CommentEvent) -> View:
    """The view after one record; ``view`` itself when the record changes nothing."""
    if isinstance(record, FeedCount):
        return _fold_count(view, record)
    if isinstance(record, CommentPosted):
        return _fold_post(view, record)
    # Edits, votes, deletes and moderation do not change how much an article was discussed.
    return view


def _fold_count(view: View, record: FeedCount) -> View:
    data = record.data
    known = view.counts.get(data.article_id)
    if known is not None and known.epoch == data.epoch and known.offset >= data.offset:
        return view
    latest = LatestCount(count=data.count, offset=data.offset, site=data.site, epoch=data.epoch)
    return replace(view, counts={**view.counts, data.article_id: latest})


def _fold_post(view: View, record: CommentPosted) -> View:
    data = record.data
    if data.status != "visible":
        return view  # pending posts wait for a moderator; they are not discussion yet
    article_posts = view.posts.get(data.article_id, {})
    if data.comment_id in article_posts:
        return view
    article_posts = {**article_posts, data.comment_id: data.posted_at}
    return replace(view, posts={**view.posts, data.article_id: article_posts})


def expire(view: View, now: datetime) -> View:
    """Drop posts older than the window, so memory stays bounded by the window's traffic."""
    cutoff = now - view.window
    kept: dict[str, Mapping[str, datetime]] = {}
    for article_id, article_posts in view.posts.items():
        recent = {cid: at for cid, at in article_posts.items() if at >= cutoff}
        if recent:
            kept[article_id] = recent if len(recent) < len(article_posts) else article_posts
    if sum(map(len, kept.values())) == sum(map(len, view.posts.values())):
        return view
    return replace(view, posts=kept)


def top(view: View, now: datetime, n: int = 10) -> list[Row]:
    """The ``n`` articles with the most comments posted in the window ending at ``now``.

    Ties go to the article with more comments overall, then to the smaller article id, so
    the order is the same on every run.
    """
    cutoff = now - view.window
    rows = []
    for article_id, article_posts in view.posts.items():
        recent = sum(1 for at in article_posts.values() if at >= cutoff)
        if recent:
            latest = view.counts.get(article_id)
            rows.append(Row(article_id, recent, latest.count if latest else None))
    rows.sort(key=lambda r: (-r.recent_comments, -(r.count or 0), r.article_id))
    return rows[:n]


def counts(view: View) -> dict[str, int]:
    """article_id -> latest count, the view's copy of what the streams serve at /v1/counts."""
    return {article_id: latest.count for article_id, latest in view.counts.items()}
