"""What a gateway reports of its readers per article (pure): the ``gateway.presence`` reports.

Once per tick the shell hands :meth:`PresenceReporter.tick` the viewers of each article this
process serves (distinct connections subscribed to ``article:<id>``, counted by the core from
its channel sets: nothing is done per connect or per subscriber). The reporter answers with the
reports to send:

- a changed count, at most once per article per ``interval_s`` (a burst of arrivals and
  departures becomes one report);
- a heartbeat of every article with viewers every ``ttl_s / 3``, so the streams keep counting
  them (they drop a gateway's viewers ``ttl_s`` after its last report: a killed gateway's
  readers vanish by themselves);
- 0 once the last viewer left, after which the article is forgotten.

At most ``max_per_tick`` reports leave per tick; the rest wait for the next one (changes
first, then the longest unreported), which also spreads heartbeats over ticks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Report:
    article_id: str
    viewers: int


@dataclass(slots=True)
class _Sent:
    viewers: int
    at: float


class PresenceReporter:
    """Which viewer counts to report when. Not thread-safe; ``now`` is monotonic seconds."""

    def __init__(self, *, interval_s: float, ttl_s: float, max_per_tick: int) -> None:
        self.interval_s = interval_s
        self.ttl_s = ttl_s
        self.heartbeat_s = ttl_s / 3
        self.max_per_tick = max_per_tick
        #: The last report sent per article, until it said 0.
        self._sent: dict[str, _Sent] = {}

    @property
    def articles(self) -> int:
        """Articles whose last report said someone reads them."""
        return len(self._sent)

    def tick(self, viewers: Mapping[str, int], now: float) -> list[Report]:
        """The reports due now, given every article's current viewers (absent: 0)."""
        changed: list[tuple[float, str, int]] = []
        beats: list[tuple[float, str, int]] = []
        sent = self._sent
        for article_id, count in viewers.items():
            if count <= 0:
                continue
            last = sent.get(article_id)
            if last is None:
                changed.append((float("-inf"), article_id, count))
            elif last.viewers != count:
                if now - last.at >= self.interval_s:
                    changed.append((last.at, article_id, count))
            elif now - last.at >= self.heartbeat_s:
                beats.append((last.at, article_id, count))
        for article_id, last in sent.items():
            if viewers.get(article_id, 0) <= 0 and now - last.at >= self.interval_s:
                changed.append((last.at, article_id, 0))
        changed.sort()
        beats.sort()
        out: list[Report] = []
        for _, article_id, count in (changed + beats)[: self.max_per_tick]:
            out.append(Report(article_id, count))
            if count:
                sent[article_id] = _Sent(count, now)
            else:
                del sent[article_id]
        return out

    def farewell(self) -> list[Report]:
        """Zero for every article reported: this gateway is shutting down."""
        out = [Report(article_id, 0) for article_id in self._sent]
        self._sent.clear()
        return out
