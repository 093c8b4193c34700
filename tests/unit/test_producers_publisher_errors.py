"""How the publisher routes events and turns aiokafka's errors into typed ones (no broker)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from aiokafka.errors import (
    IllegalOperation,
    KafkaConnectionError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    NotLeaderForPartitionError,
)

from commentfeed.errors import PublishError
from commentfeed.events import (
    ArticleDeleted,
    ArticleRef,
    Author,
    CommentPosted,
    CommentPostedData,
)
from commentfeed.settings import Settings
from producers.publisher import PublishBatchError, as_publish_error, encode_checked, route

SETTINGS = Settings(topic_prefix="p.")


def test_events_route_to_their_topic_keyed_by_article() -> None:
    deleted = ArticleDeleted(subject="a1", data=ArticleRef(article_id="a1", site="demo"))
    posted = CommentPosted(subject="a2", data=CommentPostedData(
        comment_id="c", article_id="a2", site="demo", author=Author(id="u", name="U"),
        body="x", posted_at=datetime.now(UTC)))
    assert route(SETTINGS, deleted) == ("p.articles", "a1")
    assert route(SETTINGS, posted) == ("p.comments", "a2")


@pytest.mark.parametrize(("error", "retriable"), [
    (KafkaConnectionError(), True),
    (NotLeaderForPartitionError(), True),
    (MessageSizeTooLargeError(), False),
    (KafkaTimeoutError(), False),
    (IllegalOperation("closed"), False),
    (RuntimeError("odd"), False),
])
def test_aiokafka_errors_become_publish_errors_with_their_retriability(
    error: Exception, retriable: bool,
) -> None:
    translated = as_publish_error(error, "e-1")
    assert isinstance(translated, PublishError)
    assert translated.retriable is retriable
    assert translated.__cause__ is error
    assert "e-1" in str(translated)


def test_a_batch_error_is_retriable_only_if_every_failure_is() -> None:
    soft = PublishError("a", retriable=True)
    hard = PublishError("b", retriable=False)
    assert PublishBatchError([None, None], {0: soft, 1: soft}).retriable is True
    assert PublishBatchError([None, None], {0: soft, 1: hard}).retriable is False


def test_a_subject_other_than_the_article_is_refused() -> None:
    wrong = ArticleDeleted(subject="a2", data=ArticleRef(article_id="a1", site="demo"))
    with pytest.raises(PublishError, match="subject") as caught:
        encode_checked(wrong)
    assert caught.value.retriable is False
