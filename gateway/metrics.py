"""The gateway's Prometheus metrics, counted in plain attributes and exposed by a collector.

The fan-out path counts every frame it sends and observes every update's latency; doing that
through ``prometheus_client``'s locked metric objects cost as much as the rest of an update's
handling. Here counting is an integer addition and a bisect, and the numbers become metric
families only when ``/metrics`` is scraped.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

PREFIX = "commentfeed_gateway_"
LATENCY_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics(Collector):
    """Counters the shell bumps directly; gauges read from callables at scrape time."""

    def __init__(self, gauges: dict[str, tuple[str, Callable[[], float]]]) -> None:
        self.gauges = gauges
        self.frames_sent = 0
        self.bytes_sent = 0
        self.slow_consumer_closes = 0
        self.server_full_closes = 0
        self.address_limit_closes = 0
        self.accept_errors = 0
        self.bad_updates = 0
        self.consume_lag = 0
        #: (kind, result) -> count, e.g. ("snapshot", "ok").
        self.upstream: dict[tuple[str, str], int] = {}
        self._latency_counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self._latency_sum = 0.0
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    def sent(self, frames: int, size: int) -> None:
        self.frames_sent += frames
        self.bytes_sent += frames * size

    def upstream_request(self, kind: str, result: str) -> None:
        key = (kind, result)
        self.upstream[key] = self.upstream.get(key, 0) + 1

    def observe_latency(self, seconds: float) -> None:
        self._latency_counts[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self._latency_sum += seconds

    def render(self) -> bytes:
        """The Prometheus text exposition."""
        return generate_latest(self.registry)

    def collect(self) -> Iterator[Metric]:
        for name, (help_text, read) in self.gauges.items():
            yield GaugeMetricFamily(PREFIX + name, help_text, value=read())
        yield GaugeMetricFamily(PREFIX + "consume_lag",
                                "feed.updates records not consumed yet, all partitions",
                                value=self.consume_lag)
        for name, help_text, value in (
            ("frames_sent", "Frames sent to clients", self.frames_sent),
            ("bytes_sent", "Frame bytes sent to clients", self.bytes_sent),
            ("slow_consumer_closes", "Connections closed with 4000 (slow consumer)",
             self.slow_consumer_closes),
            ("server_full_closes", "Connections closed with 4002 (connection limit)",
             self.server_full_closes),
            ("address_limit_closes",
             "Connections closed with 4004 (connection limit of one address)",
             self.address_limit_closes),
            ("accept_errors", "Failed accepts (out of open files): new connections wait",
             self.accept_errors),
            ("bad_updates", "feed.updates records skipped as unusable", self.bad_updates),
        ):
            yield CounterMetricFamily(PREFIX + name, help_text, value=value)
        upstream = CounterMetricFamily(PREFIX + "upstream_requests",
                                       "Streams API requests by kind and result",
                                       labels=["kind", "result"])
        for (kind, result), count in sorted(self.upstream.items()):
            upstream.add_metric([kind, result], count)
        yield upstream
        buckets, running = [], 0
        for bound, count in zip((*LATENCY_BUCKETS, float("inf")), self._latency_counts,
                                strict=True):
            running += count
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), running))
        yield HistogramMetricFamily(PREFIX + "publish_to_send_seconds",
                                    "Input event time to the update's fan-out",
                                    buckets=buckets, sum_value=self._latency_sum)
