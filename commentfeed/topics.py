"""Topic names, keys and partition counts: the bus layout every process agrees on.

The stack creates its topics itself (never relying on auto-creation) so that ``articles`` and
``comments`` are co-partitioned: same partition count, same key (``article_id``).
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


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int
    #: Latest-value topics are compacted on Kafka (Tansu ignores the setting).
    compacted: bool = False


def topic_name(settings: Settings, topic: Topic) -> str:
    return f"{settings.topic_prefix}{topic.value}"


def topic_specs(settings: Settings) -> list[TopicSpec]:
    """Every topic the stack owns, with the partition count it must be created with."""
    keyed = settings.partitions
    return [
        TopicSpec(topic_name(settings, Topic.ARTICLES), keyed),
        TopicSpec(topic_name(settings, Topic.COMMENTS), keyed),
        TopicSpec(topic_name(settings, Topic.FEED_UPDATES), keyed),
        TopicSpec(topic_name(settings, Topic.FEED_COUNTS), keyed, compacted=True),
        TopicSpec(topic_name(settings, Topic.DLQ), 1),
    ]
