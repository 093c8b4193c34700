"""The worker's Prometheus metrics (``/metrics`` on ``STREAMS_PORT``), rendered at scrape time.

Two kinds: what this process folded since it started (the counters ``/readyz`` also reports),
and the moderation queue of every site whose queue record this worker owns (depth and time
from post to decision). Each worker reports only the sites it owns, so a scrape of every worker
sums to the deployment without double counting; a site moves with its partition.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Final

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

PREFIX: Final = "commentfeed_streams_"
#: Prometheus text format 0.0.4 (its charset is UTF-8 by definition; aiohttp sets it apart).
CONTENT_TYPE: Final = "text/plain; version=0.0.4"

#: (name, help) of the fold's counters, named as in ``streams.agents.Stats``.
FOLD_COUNTERS: Final = (
    ("processed", "Input events folded (each once per delivery)"),
    ("dead_lettered", "Records sent to comments.dlq"),
    ("replayed", "Events found already applied after a restart (replays)"),
    ("superseded", "Table writes a later event of the same batch replaced"),
    ("batches", "Fetched batches folded"),
)

#: (name, help, snapshot field) of the per-site queue gauges (``streams.modqueue.stats``).
QUEUE_GAUGES: Final = (
    ("moderation_queue_depth", "Pending and reported comments waiting for a decision",
     "depth"),
    ("moderation_queue_hidden", "Recently hidden comments kept in the queue", "hidden"),
    ("moderation_queue_not_shown", "Waiting comments past the queue's cap", "not_shown"),
    ("moderation_last_decision_seconds", "Post to decision, the latest decision",
     "last_decision_ms"),
    ("moderation_median_decision_seconds",
     "Post to decision, median of the last 100 decisions", "median_decision_ms"),
)


class _Scrape(Collector):
    def __init__(self, fold: Mapping[str, int], queues: Mapping[str, Mapping[str, Any]]) -> None:
        self.fold = fold
        self.queues = queues

    def collect(self) -> Iterator[Metric]:
        for name, help_text in FOLD_COUNTERS:
            yield CounterMetricFamily(PREFIX + name, help_text, value=self.fold.get(name, 0))
        decisions = CounterMetricFamily(PREFIX + "moderation_decisions",
                                        "Moderator decisions on pending or reported comments",
                                        labels=["site"])
        for site in sorted(self.queues):
            decisions.add_metric([site], self.queues[site]["decisions"])
        yield decisions
        for name, help_text, field in QUEUE_GAUGES:
            gauge = GaugeMetricFamily(PREFIX + name, help_text, labels=["site"])
            for site in sorted(self.queues):
                value = self.queues[site][field]
                if value is None:
                    continue  # no decision yet: no sample, rather than a made-up zero
                gauge.add_metric([site], value / 1000 if field.endswith("_ms") else value)
            yield gauge


def render(fold: Mapping[str, int], queues: Mapping[str, Mapping[str, Any]]) -> bytes:
    """The Prometheus text exposition of the fold's counters and the sites' queue figures
    (``queues``: site -> :func:`streams.modqueue.stats`)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Scrape(fold, queues))
    return generate_latest(registry)
