"""How the Faust app is put together from settings, checked without a broker."""

from __future__ import annotations

import socket
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from commentfeed.settings import Settings
from streams.app import build_app
from streams.cli import CLEAN_MARKER, prepare_table_dir
from streams.faust_compat import (
    Consumer,
    FlowControl,
    Producer,
    TimeOrderedScheduler,
    Transport,
    broker_url,
)
from streams.process import settings_env


def settings(**overrides: Any) -> Settings:
    base: dict[str, Any] = {"kafka_bootstrap": "127.0.0.1:1", "topic_prefix": "px.",
                            "fetch_wait_ms": 7, "rebalance_timeout_ms": 2500,
                            "streams_port": 16999}
    base.update(overrides)
    return Settings.explicit(**base)


async def test_faust_consumers_take_the_fetch_wait_from_settings() -> None:
    app = build_app(settings())
    consumer = app.consumer
    assert isinstance(consumer, Consumer)
    thread = consumer._thread
    transport = app.transport
    assert isinstance(transport, Transport)
    try:
        worker_consumer = thread._create_worker_consumer(transport)
        client_consumer = thread._create_client_consumer(transport)
        assert worker_consumer._fetch_max_wait_ms == 7
        assert client_consumer._fetch_max_wait_ms == 7
        assert worker_consumer._rebalance_timeout_ms == 2500
        await worker_consumer.stop()
        await client_consumer.stop()
    finally:
        thread.thread_loop.close()  # made by Faust for the consumer thread, never started


def test_resuming_flow_that_runs_keeps_the_events_queued_for_the_fold() -> None:
    # After table recovery Faust resumes flow twice, seeking the inputs in between: the
    # events the consumer delivered during the seek must survive the second resume.
    app = build_app(settings())
    flow = app.flow_control
    assert isinstance(flow, FlowControl)
    (fold,) = [a for name, a in app.agents.items() if name.endswith("fold")]
    queue = fold.channel.queue
    assert not flow.is_active()  # suspended until the first recovery is done
    queue.put_nowait("queued before the first resume")
    flow.resume()
    assert queue.empty()  # Faust's clearing on resume, kept where flow was suspended
    queue.put_nowait("delivered during the seek")
    flow.resume()
    assert queue.get_nowait() == "delivered during the seek"
    queue.put_nowait("queued before a rebalance")
    flow.suspend()
    flow.resume()
    assert queue.empty()


def test_every_topic_of_the_app_carries_the_prefix_and_settings_reach_faust() -> None:
    app = build_app(settings(idempotent_producer=True, table_store="memory://"))
    assert app.conf.id == "px.commentfeed-streams-v3"
    changelogs = {t.changelog_topic.get_topic_name() for t in app.tables.values()}
    assert changelogs == {"px.commentfeed-streams-v3-state-changelog",
                          "px.commentfeed-streams-v3-sites-changelog"}
    topics = {name for agent in app.agents.values()
              for name in agent.channel.topics}
    assert topics == {"px.articles", "px.comments", "px.commentfeed-streams-v3-recent-facts",
                      "px.gateway.presence"}
    assert app.conf.web_port == 16999
    assert app.conf.web_tables_enabled is False
    assert app.conf.broker_rebalance_timeout == 2.5
    assert str(app.conf.broker_consumer[0]) == "commentfeed://127.0.0.1:1"
    producer = app.producer
    assert isinstance(producer, Producer)
    assert producer._settings_extra()["enable_idempotence"] is True


def test_faust_does_not_read_its_own_environment_variables(monkeypatch: Any) -> None:
    monkeypatch.setenv("WEB_PORT", "1")
    monkeypatch.setenv("BROKER_URL", "kafka://elsewhere:9")
    app = build_app(settings())
    assert app.conf.web_port == 16999
    assert str(app.conf.broker[0]) == "commentfeed://127.0.0.1:1"


def test_records_of_one_fetch_are_merged_by_timestamp_keeping_their_partition() -> None:
    def rec(ts: int, name: str) -> SimpleNamespace:
        return SimpleNamespace(timestamp=ts, name=name)

    records = {"articles-0": [rec(1, "a1"), rec(5, "a2")],
               "comments-0": [rec(2, "c1"), rec(3, "c2"), rec(9, "c3")]}
    merged = [(tp, r.name) for tp, r in TimeOrderedScheduler().iterate(records)]
    assert merged == [("articles-0", "a1"), ("comments-0", "c1"), ("comments-0", "c2"),
                      ("articles-0", "a2"), ("comments-0", "c3")]


def test_workers_bound_to_every_interface_advertise_their_host_name() -> None:
    app = build_app(settings(host="0.0.0.0"))
    assert str(app.conf.canonical_url) == f"http://{socket.gethostname()}:16999"


def test_broker_list_becomes_one_url_per_host() -> None:
    assert broker_url(settings(kafka_bootstrap="h1:9092, h2:9093")) == (
        "commentfeed://h1:9092;commentfeed://h2:9093")


def test_rocksdb_state_is_only_kept_after_a_clean_stop(tmp_path: Path) -> None:
    rocks = settings(table_store="rocksdb://", data_dir=str(tmp_path))
    tabledir = tmp_path / "tables"
    tabledir.mkdir()
    (tabledir / "state").write_text("x")
    marker = prepare_table_dir(rocks, tabledir)
    assert marker == tmp_path / CLEAN_MARKER
    assert not tabledir.exists()  # no marker: the last stop was not clean
    tabledir.mkdir()
    marker.touch()
    assert prepare_table_dir(rocks, tabledir) == marker
    assert tabledir.exists()
    assert not marker.exists()  # a crash from now on leaves no marker behind
    assert prepare_table_dir(settings(data_dir=str(tmp_path)), tabledir) is None


def test_child_environment_reproduces_the_settings_and_nothing_else() -> None:
    env = settings_env(settings(demo_mode=True), {"COMMENTFEED_GATEWAY_PORT": "1", "PATH": "/x"})
    assert env["COMMENTFEED_TOPIC_PREFIX"] == "px."
    assert env["COMMENTFEED_DEMO_MODE"] == "true"
    assert env["COMMENTFEED_GATEWAY_PORT"] == "8765"
    assert env["PATH"] == "/x"
    assert "COMMENTFEED_JWT_SECRET" not in env
