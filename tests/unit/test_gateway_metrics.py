"""The gateway's metrics: cheap counters rendered as standard Prometheus text."""

from __future__ import annotations

from gateway.metrics import Metrics


def test_counters_gauges_and_the_latency_histogram_render_as_prometheus_text() -> None:
    connections = [3]
    m = Metrics({"connections": ("Open websocket connections", lambda: connections[0])})
    m.sent(10, 100)
    m.sent(1, 7)
    m.upstream_request("snapshot", "ok")
    m.upstream_request("snapshot", "ok")
    m.upstream_request("history", "error")
    for seconds in (0.0005, 0.003, 0.003, 7.0):
        m.observe_latency(seconds)
    m.consume_lag = 12
    sample = m.registry.get_sample_value
    assert sample("commentfeed_gateway_connections") == 3
    assert sample("commentfeed_gateway_frames_sent_total") == 11
    assert sample("commentfeed_gateway_bytes_sent_total") == 1007
    assert sample("commentfeed_gateway_consume_lag") == 12
    assert sample("commentfeed_gateway_upstream_requests_total",
                  {"kind": "snapshot", "result": "ok"}) == 2
    bucket = "commentfeed_gateway_publish_to_send_seconds_bucket"
    assert sample(bucket, {"le": "0.001"}) == 1
    assert sample(bucket, {"le": "0.005"}) == 3
    assert sample(bucket, {"le": "5.0"}) == 3
    assert sample(bucket, {"le": "+Inf"}) == 4
    assert sample("commentfeed_gateway_publish_to_send_seconds_count") == 4
    connections[0] = 5
    text = m.render().decode()
    assert "commentfeed_gateway_connections 5.0" in text
    assert "# TYPE commentfeed_gateway_publish_to_send_seconds histogram" in text
