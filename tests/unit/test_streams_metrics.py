"""The worker's Prometheus exposition: fold counters and per-site queue figures."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from streams import metrics


def samples(body: bytes) -> dict[tuple[str, str | None], float]:
    return {(m.name, m.labels.get("site")): m.value
            for family in text_string_to_metric_families(body.decode())
            for m in family.samples}


def test_counters_and_each_sites_queue_figures_in_seconds() -> None:
    got = samples(metrics.render(
        {"processed": 7, "dead_lettered": 1, "replayed": 0, "superseded": 2, "batches": 3},
        {"demo": {"depth": 4, "hidden": 1, "not_shown": 0, "decisions": 2,
                  "last_decision_ms": 1500, "median_decision_ms": 90_000}}))
    assert got[("commentfeed_streams_processed_total", None)] == 7
    assert got[("commentfeed_streams_dead_lettered_total", None)] == 1
    assert got[("commentfeed_streams_moderation_queue_depth", "demo")] == 4
    assert got[("commentfeed_streams_moderation_decisions_total", "demo")] == 2
    assert got[("commentfeed_streams_moderation_last_decision_seconds", "demo")] == 1.5
    assert got[("commentfeed_streams_moderation_median_decision_seconds", "demo")] == 90.0


def test_a_site_without_decisions_has_no_decision_time_sample() -> None:
    got = samples(metrics.render({}, {"news": {
        "depth": 1, "hidden": 0, "not_shown": 0, "decisions": 0,
        "last_decision_ms": None, "median_decision_ms": None}}))
    assert got[("commentfeed_streams_moderation_queue_depth", "news")] == 1
    assert got[("commentfeed_streams_processed_total", None)] == 0
    assert ("commentfeed_streams_moderation_median_decision_seconds", "news") not in got
