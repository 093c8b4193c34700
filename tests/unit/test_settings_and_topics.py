from __future__ import annotations

import pytest
from pydantic import ValidationError

from commentfeed.settings import Settings
from commentfeed.topics import Topic, topic_name, topic_specs


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


def test_explicit_settings_ignore_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMMENTFEED_GATEWAY_PORT", "1234")
    assert Settings().gateway_port == 1234
    assert Settings.explicit().gateway_port == 8765
    assert Settings.explicit(gateway_port=9000).gateway_port == 9000
