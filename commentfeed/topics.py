"""Topic names, keys, partition counts and settings: the bus layout every process agrees on.

The stack creates its topics itself (never relying on auto-creation) so that ``articles`` and
``comments`` are co-partitioned: same partition count, same key (``article_id``).

Each topic's settings fit its role. The input topics are the source of truth (every process
that rebuilds state reads them from the start), so they are kept forever. ``articles`` is not
compacted: compaction keeps only an article's last record, and an ``article.closed`` or
``article.deleted`` does not carry the article, so a rebuild would lose published articles.
Derived topics are bounded: ``feed.updates`` a day, ``comments.dlq`` thirty days, and
``feed.counts`` (latest value per article) compacted, ``gateway.presence`` (the gateways'
viewer reports, worthless after their 30-second ttl) an hour. docs/operations.md explains each.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from commentfeed.settings import Settings


class Topic(StrEnum):
    """Logical topic names; the physical name adds ``Settings.topic_prefix``."""

    ARTICLES = "articles"
    COMMENTS = "comments"
    FEED_UPDATES = "feed.updates"
    FEED_COUNTS = "feed.counts"
    DLQ = "comments.dlq"
    GATEWAY_PRESENCE = "gateway.presence"


FOREVER = -1
DAY_MS = 86_400_000
HOUR_MS = 3_600_000


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int
    #: Latest-value topics are compacted on Kafka (Tansu ignores the setting).
    compacted: bool = False
    #: How long records are kept (ms); FOREVER keeps them; None for compacted topics.
    retention_ms: int | None = None

    def configs(self) -> dict[str, str]:
        """The topic-level settings ``commentfeed topics`` creates (or aligns) it with."""
        if self.compacted:
            # Small segments and an eager cleaner, so a reader from the start gets about one
            # record per key rather than the whole history.
            return {"cleanup.policy": "compact", "segment.ms": str(HOUR_MS),
                    "min.cleanable.dirty.ratio": "0.1"}
        configs = {"cleanup.policy": "delete"}
        if self.retention_ms is not None:
            configs["retention.ms"] = str(self.retention_ms)
            if self.retention_ms == FOREVER:
                configs["retention.bytes"] = "-1"
        return configs


def topic_name(settings: Settings, topic: Topic) -> str:
    return f"{settings.topic_prefix}{topic.value}"


def topic_specs(settings: Settings) -> list[TopicSpec]:
    """Every topic the stack owns, with the partition count it must be created with."""
    keyed = settings.partitions
    return [
        TopicSpec(topic_name(settings, Topic.ARTICLES), keyed, retention_ms=FOREVER),
        TopicSpec(topic_name(settings, Topic.COMMENTS), keyed, retention_ms=FOREVER),
        TopicSpec(topic_name(settings, Topic.FEED_UPDATES), keyed, retention_ms=DAY_MS),
        TopicSpec(topic_name(settings, Topic.FEED_COUNTS), keyed, compacted=True),
        TopicSpec(topic_name(settings, Topic.DLQ), 1, retention_ms=30 * DAY_MS),
        TopicSpec(topic_name(settings, Topic.GATEWAY_PRESENCE), keyed, retention_ms=HOUR_MS),
    ]


def config_changes(spec: TopicSpec, current: dict[str, str]) -> dict[str, str]:
    """The settings of ``spec`` that an existing topic (``current``) does not have yet."""
    return {k: v for k, v in spec.configs().items() if current.get(k) != v}
