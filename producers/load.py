"""The load generator: comment events at a steady rate, for ``commentfeed load`` and bench/.

:class:`LoadScript` (pure, seeded) makes the events: the plan's articles first, then mostly new
comments (some of them replies), with votes and edits on comments already posted.
:func:`run_load` paces them onto a :class:`~producers.publisher.Publisher`, keeps many in flight,
and returns :class:`LoadStats`, including the wall-clock time each event was handed to the
producer (keyed by event id) so a benchmark can measure publish-to-screen latency.

``viewers`` is not used here: the generator only publishes. It is carried through to the stats
so a benchmark that opens that many websocket viewers per article reports one record.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from commentfeed.errors import PublishError
from commentfeed.events import (
    ArticleData,
    ArticlePublished,
    Author,
    CommentEdited,
    CommentEditedData,
    CommentEvent,
    CommentPosted,
    CommentPostedData,
    CommentVoted,
    CommentVotedData,
    utc_now,
)
from producers.publisher import Delivery, Publisher

SOURCE = "commentfeed/load"
_WORDS = (
    "bridge", "council", "tram", "budget", "market", "ferry", "river", "schedule", "steel",
    "festival", "commute", "night", "lane", "summer", "airport", "vote", "plan", "road",
    "station", "harbour", "weekend", "crew", "deck", "queue", "city",
)


@dataclass(frozen=True, slots=True)
class LoadPlan:
    #: Target comment events per second (articles are published before the clock starts).
    rate: float
    duration_s: float
    articles: int = 10
    #: Recorded for the benchmark only (see the module docstring).
    viewers: int = 0
    site: str = "load"
    seed: int | None = None
    #: Ids of this run's articles and comments start with it, so runs never collide.
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    vote_share: float = 0.10
    edit_share: float = 0.05
    reply_share: float = 0.30
    users: int = 500

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.duration_s <= 0 or self.articles < 1 or self.users < 1:
            raise ValueError("rate, duration, articles and users must be positive")
        if self.vote_share + self.edit_share >= 1:
            raise ValueError("vote_share + edit_share must leave room for posts")

    @property
    def total(self) -> int:
        """How many comment events the run publishes."""
        return max(1, round(self.rate * self.duration_s))

    def article_ids(self) -> list[str]:
        return [f"load-{self.run_id}-a{i}" for i in range(self.articles)]


class LoadScript:
    """Makes the events of one run, deterministically for a given seed."""

    def __init__(self, plan: LoadPlan) -> None:
        self.plan = plan
        self._rng = random.Random(plan.seed)
        self._articles = plan.article_ids()
        self._posted: dict[str, list[tuple[str, str]]] = {a: [] for a in self._articles}
        self._count = 0

    def articles(self, now: datetime) -> list[ArticlePublished]:
        return [
            ArticlePublished(
                source=SOURCE, subject=article_id, time=now,
                data=ArticleData(
                    article_id=article_id, site=self.plan.site,
                    title=f"Load test article {i} of run {self.plan.run_id}",
                    url=f"https://news.example/{article_id}", author="Load Generator",
                    published_at=now,
                ),
            )
            for i, article_id in enumerate(self._articles)
        ]

    def _text(self, words: int) -> str:
        return " ".join(self._rng.choice(_WORDS) for _ in range(words)).capitalize() + "."

    def next_event(self, now: datetime) -> CommentEvent:
        rng, plan = self._rng, self.plan
        article_id = rng.choice(self._articles)
        earlier = self._posted[article_id]
        roll = rng.random()
        if earlier and roll < plan.vote_share:
            comment_id, _ = rng.choice(earlier)
            return CommentVoted(source=SOURCE, subject=article_id, time=now, data=CommentVotedData(
                comment_id=comment_id, article_id=article_id, site=plan.site,
                voter_id=f"u-load-{rng.randrange(plan.users)}", value=rng.choice((1, 1, -1)),
            ))
        if earlier and roll < plan.vote_share + plan.edit_share:
            comment_id, _ = rng.choice(earlier)
            return CommentEdited(source=SOURCE, subject=article_id, time=now,
                                 data=CommentEditedData(
                comment_id=comment_id, article_id=article_id, site=plan.site,
                body=self._text(rng.randint(4, 20)) + " (edited)", edited_at=now,
            ))
        self._count += 1
        comment_id = f"c-{plan.run_id}-{self._count}"
        parent = rng.choice(earlier)[0] if earlier and rng.random() < plan.reply_share else None
        user = rng.randrange(plan.users)
        earlier.append((comment_id, f"u-load-{user}"))
        return CommentPosted(source=SOURCE, subject=article_id, time=now, data=CommentPostedData(
            comment_id=comment_id, article_id=article_id, site=plan.site, parent_id=parent,
            author=Author(id=f"u-load-{user}", name=f"Reader {user}"),
            body=self._text(rng.randint(4, 40)), posted_at=now,
        ))


@dataclass
class LoadStats:
    plan: LoadPlan
    articles: list[str]
    sent: int = 0
    acked: int = 0
    failed: int = 0
    #: Error class name -> count.
    errors: Counter[str] = field(default_factory=Counter)
    first_errors: list[str] = field(default_factory=list)
    by_type: Counter[str] = field(default_factory=Counter)
    #: From the first comment event handed to the producer to the last ack.
    elapsed_s: float = 0.0
    #: Event id -> wall-clock time (``time.time()``) it was handed to the producer.
    published_at: dict[str, float] = field(default_factory=dict)

    @property
    def achieved_rate(self) -> float:
        return self.acked / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def viewers(self) -> int:
        return self.plan.viewers

    def summary(self) -> str:
        text = (
            f"sent {self.sent}, acked {self.acked}, failed {self.failed} in "
            f"{self.elapsed_s:.2f}s: {self.achieved_rate:.0f} events/s achieved "
            f"(target {self.plan.rate:g}/s, {len(self.articles)} articles)"
        )
        if self.errors:
            kinds = ", ".join(f"{name} x{n}" for name, n in self.errors.most_common())
            text += f"; errors: {kinds}"
        return text


async def run_load(
    publisher: Publisher,
    plan: LoadPlan,
    *,
    on_settled: Callable[[bool], None] | None = None,
    clock: Callable[[], float] = time.perf_counter,
    wall: Callable[[], float] = time.time,
) -> LoadStats:
    """Publish the plan's articles (waiting for them), then its comment events at its rate.

    ``on_settled(ok)`` is called once per comment event when its outcome is known (for a
    progress bar). Publish failures are counted, never raised.
    """
    script = LoadScript(plan)
    await publisher.publish_many(script.articles(utc_now()))
    stats = LoadStats(plan=plan, articles=plan.article_ids())
    in_flight = 0
    sending = True
    drained = asyncio.Event()

    def record_error(exc: PublishError) -> None:
        stats.failed += 1
        stats.errors[type(exc.__cause__ or exc).__name__] += 1
        if len(stats.first_errors) < 5:
            stats.first_errors.append(str(exc))

    def settle(done: asyncio.Future[Delivery]) -> None:
        nonlocal in_flight
        in_flight -= 1
        exc = (PublishError("cancelled", retriable=True) if done.cancelled()
               else done.exception())
        if exc is None:
            stats.acked += 1
        else:
            record_error(exc if isinstance(exc, PublishError)
                         else PublishError(str(exc), retriable=False))
        if on_settled is not None:
            on_settled(exc is None)
        if in_flight == 0 and not sending:
            drained.set()

    total = plan.total
    start = clock()
    while stats.sent < total:
        due = min(total, int((clock() - start) * plan.rate) + 1)
        while stats.sent < due:
            event = script.next_event(utc_now())
            stats.by_type[event.type] += 1
            stats.published_at[event.id] = wall()
            stats.sent += 1
            try:
                future = await publisher.submit(event)
            except PublishError as exc:
                record_error(exc)
                if on_settled is not None:
                    on_settled(False)
                continue
            in_flight += 1
            future.add_done_callback(settle)
        # Pacing, not synchronisation: wait until the next event is due.
        delay = start + stats.sent / plan.rate - clock()
        if delay > 0:
            await asyncio.sleep(delay)
    sending = False
    if in_flight:
        await drained.wait()
    stats.elapsed_s = clock() - start
    return stats
