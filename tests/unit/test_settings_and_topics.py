from __future__ import annotations

import pytest
from pydantic import ValidationError

from commentfeed.settings import Settings
from commentfeed.topics import Topic, config_changes, topic_name, topic_specs


def test_settings_read_the_commentfeed_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMMENTFEED_FETCH_WAIT_MS", "250")
    monkeypatch.setenv("COMMENTFEED_JWT_SECRET", "s3cret")
    monkeypatch.setenv("FETCH_WAIT_MS", "999")  # unprefixed: ignored
    settings = Settings()
    assert settings.fetch_wait_ms == 250
    assert settings.jwt_secret is not None
    assert settings.jwt_secret.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(ValidationError):
        settings.gateway_port = 1  # type: ignore[misc]


def test_defaults_match_the_operator_interface() -> None:
    s = Settings.explicit()
    assert (s.kafka_bootstrap, s.gateway_port, s.ingest_port, s.streams_port, s.topic_prefix) == (
        "127.0.0.1:9092", 8765, 8000, 6066, "")


def test_articles_and_comments_are_co_partitioned_and_prefixed() -> None:
    s = Settings.explicit(topic_prefix="stage.", partitions=6)
    specs = {spec.name: spec for spec in topic_specs(s)}
    assert specs["stage.articles"].partitions == specs["stage.comments"].partitions == 6
    assert specs["stage.feed.counts"].compacted
    assert topic_name(s, Topic.DLQ) == "stage.comments.dlq"


def test_input_topics_are_kept_forever_and_derived_ones_are_bounded() -> None:
    specs = {spec.name: spec.configs() for spec in topic_specs(Settings.explicit())}
    forever = {"cleanup.policy": "delete", "retention.ms": "-1", "retention.bytes": "-1"}
    # The source of truth: a rebuild reads it from the start, so nothing may expire.
    assert specs["articles"] == specs["comments"] == forever
    assert specs["feed.updates"] == {"cleanup.policy": "delete", "retention.ms": "86400000"}
    assert specs["comments.dlq"] == {"cleanup.policy": "delete", "retention.ms": "2592000000"}
    assert specs["feed.counts"]["cleanup.policy"] == "compact"
    assert "retention.ms" not in specs["feed.counts"]


def test_only_missing_or_different_settings_are_changed() -> None:
    (articles, *_) = topic_specs(Settings.explicit())
    assert config_changes(articles, {"cleanup.policy": "delete", "retention.ms": "604800000",
                                     "retention.bytes": "-1", "min.insync.replicas": "2"}) == {
        "retention.ms": "-1"}
    assert config_changes(articles, articles.configs()) == {}


def test_public_urls_default_to_a_reachable_host() -> None:
    assert Settings.explicit().gateway_public_url == "ws://127.0.0.1:8765/ws"
    assert Settings.explicit(host="0.0.0.0").gateway_public_url == "ws://localhost:8765/ws"
    assert Settings.explicit(host="::1").gateway_public_url == "ws://[::1]:8765/ws"
    assert Settings.explicit(
        public_gateway_url="wss://live.example/ws").gateway_public_url == "wss://live.example/ws"
    with pytest.raises(ValueError, match="public_gateway_url"):
        Settings.explicit(public_gateway_url="javascript:alert(1)")


def test_explicit_settings_ignore_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMMENTFEED_GATEWAY_PORT", "1234")
    assert Settings().gateway_port == 1234
    assert Settings.explicit().gateway_port == 8765
    assert Settings.explicit(gateway_port=9000).gateway_port == 9000
