"""Readers per article across every gateway (pure): ``gateway.presence`` in, ``presence:<id>`` out.

Each gateway reports, per article, how many of its connections read it (``viewers``) with a
``ttl_s``. The board keeps the latest report per (article, gateway) and counts it until
``ttl_s`` after it was read, by the worker's clock; a report already past ``at + ttl_s`` when it
arrives (a replay after a restart, a slow consumer) is ignored, and 0 drops the gateway at once.
An article's ``reading`` is the sum over its gateways.

Presence is ephemeral: it lives in this worker's memory only. Each worker start makes a new
``run`` id, and every ``presence:`` epoch derives from it, so a restart is a new epoch and the
gateways take a fresh snapshot. Within a run a channel's offsets grow by one per update, and
:meth:`PresenceBoard.tick` emits an article's total at most once per ``interval_s``, only when it
changed. An article nobody reads is kept ``forget_s`` (its position stays valid for the
gateways holding it), then forgotten; if it comes back it starts a new epoch
(``incarnation``), so no gateway ever sees its offsets go back. The board holds at most
``max_articles`` articles; a snapshot of an article it does not hold answers 0 without holding
it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from commentfeed.channels import ChannelUpdate, presence_channel
from streams.fold import channel_epoch

INTERVAL_S: Final = 2.0
FORGET_S: Final = 300.0
MAX_ARTICLES: Final = 100_000


@dataclass(slots=True)
class _Article:
    epoch: str
    #: gateway id -> (viewers, expires at)
    gateways: dict[str, tuple[int, float]] = field(default_factory=dict)
    offset: int = 0
    reading: int = 0
    emitted_at: float = float("-inf")
    #: When the last gateway's viewers left (or the article was first asked for).
    empty_since: float | None = None

    def total(self) -> int:
        return sum(viewers for viewers, _ in self.gateways.values())


@dataclass(frozen=True, slots=True)
class Snapshot:
    epoch: str
    offset: int
    reading: int


class PresenceBoard:
    """Not thread-safe; ``now`` is the worker's wall clock in seconds (``time.time()``)."""

    def __init__(self, namespace: str, run: str, *, interval_s: float = INTERVAL_S,
                 forget_s: float = FORGET_S, max_articles: int = MAX_ARTICLES) -> None:
        self.namespace = f"{namespace}|presence|{run}"
        self.interval_s = interval_s
        self.forget_s = forget_s
        self.max_articles = max_articles
        self._articles: dict[str, _Article] = {}
        self._incarnation = 0
        #: Reports ignored: already expired when read.
        self.stale = 0

    def __len__(self) -> int:
        return len(self._articles)

    def _epoch(self, article_id: str) -> str:
        self._incarnation += 1
        return channel_epoch(f"{self.namespace}|{self._incarnation}",
                             presence_channel(article_id))

    def _article(self, article_id: str, now: float) -> _Article | None:
        article = self._articles.get(article_id)
        if article is None and len(self._articles) < self.max_articles:
            article = self._articles[article_id] = _Article(self._epoch(article_id),
                                                            empty_since=now)
        return article

    def report(self, gateway: str, article_id: str, viewers: int, at: datetime, ttl_s: float,
               now: float) -> None:
        """One gateway's report, read at ``now``."""
        if at.timestamp() + ttl_s <= now:
            self.stale += 1
            return
        if viewers <= 0:
            article = self._articles.get(article_id)
            if article is not None:
                article.gateways.pop(gateway, None)
            return
        article = self._article(article_id, now)
        if article is not None:
            article.gateways[gateway] = (viewers, now + ttl_s)
            article.empty_since = None

    def snapshot(self, article_id: str, now: float) -> Snapshot:
        """The channel's position and value; asking holds the article, so the updates that
        follow continue this position."""
        article = self._article(article_id, now)
        if article is None:
            return Snapshot(channel_epoch(f"{self.namespace}|unheld",
                                          presence_channel(article_id)), 0, 0)
        return Snapshot(article.epoch, article.offset, article.reading)

    def tick(self, now: float, keep: Callable[[str], bool] | None = None) -> list[ChannelUpdate]:
        """Expire reports; the ``presence`` updates due now. Articles ``keep`` refuses (their
        partition moved to another worker) are dropped without a word."""
        out: list[ChannelUpdate] = []
        gone: list[str] = []
        for article_id, article in self._articles.items():
            if keep is not None and not keep(article_id):
                gone.append(article_id)
                continue
            gateways = article.gateways
            for gateway in [g for g, (_, expires) in gateways.items() if expires <= now]:
                del gateways[gateway]
            total = article.total()
            if total != article.reading and now - article.emitted_at >= self.interval_s:
                article.offset += 1
                article.reading = total
                article.emitted_at = now
                out.append(ChannelUpdate(presence_channel(article_id), article.epoch,
                                         article.offset, "presence",
                                         {"article_id": article_id, "reading": total}))
            if gateways:
                article.empty_since = None
            elif article.empty_since is None:
                article.empty_since = now
            elif article.reading == 0 and now - article.empty_since >= self.forget_s:
                gone.append(article_id)
        for article_id in gone:
            del self._articles[article_id]
        return out
