"""Events typed by people (``commentfeed publish``): built by the contract, errors name fields."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from commentfeed.events import ArticleClosed, CommentPosted, CommentVoted
from producers.event_input import EventInputError, event_from_flags, event_from_json

NOW = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)


def flags(**values: object) -> dict[str, object]:
    return values


def test_a_posted_comment_from_flags_gets_an_id_a_time_and_the_default_site() -> None:
    event = event_from_flags("comment.posted", flags(article_id="a1", author_id="u-1",
                                                     body="Hello", title=None),
                             default_site="demo", now=NOW)
    assert isinstance(event, CommentPosted)
    assert event.subject == "a1"
    assert event.data.comment_id.startswith("c-")
    assert (event.data.site, event.data.posted_at, event.data.author.name) == ("demo", NOW, "u-1")
    assert event.source == "commentfeed/cli"


def test_flags_that_do_not_belong_to_the_type_are_refused() -> None:
    with pytest.raises(EventInputError, match="--title"):
        event_from_flags("comment.voted", flags(article_id="a", comment_id="c", voter_id="u",
                                                value=1, title="x"),
                         default_site="demo", now=NOW)


def test_validation_errors_name_the_flags() -> None:
    with pytest.raises(EventInputError) as caught:
        event_from_flags("comment.posted", flags(article_id="bad id", body=""),
                         default_site="demo", now=NOW)
    message = str(caught.value)
    assert "--article-id" in message
    assert "--body" in message
    assert "--author-id" in message


def test_an_unknown_type_lists_the_known_ones() -> None:
    with pytest.raises(EventInputError, match=r"comment\.voted"):
        event_from_flags("comment.exploded", {}, default_site="demo", now=NOW)


def test_the_event_id_can_be_fixed() -> None:
    event = event_from_flags("comment.voted", flags(article_id="a", comment_id="c",
                                                    voter_id="u", value=-1),
                             default_site="demo", now=NOW, event_id="vote-7")
    assert isinstance(event, CommentVoted)
    assert (event.id, event.data.value) == ("vote-7", -1)


def test_json_with_only_type_and_data_gets_an_envelope() -> None:
    event = event_from_json({"type": "article.closed",
                             "data": {"article_id": "a1", "site": "demo"}})
    assert isinstance(event, ArticleClosed)
    assert event.subject == "a1"


def test_a_whole_cloudevent_is_taken_as_is() -> None:
    doc = {"specversion": "1.0", "id": "e-1", "source": "cms", "time": "2026-03-14T12:00:00Z",
           "subject": "a1", "type": "article.deleted",
           "data": {"article_id": "a1", "site": "demo"}}
    event = event_from_json(doc)
    assert (event.id, event.source, event.time) == ("e-1", "cms", NOW)


def test_bad_json_documents_name_the_field() -> None:
    with pytest.raises(EventInputError, match="expected a JSON object"):
        event_from_json([1, 2])
    with pytest.raises(EventInputError, match=r"data\.site"):
        event_from_json({"type": "article.closed", "data": {"article_id": "a1"}})
    with pytest.raises(EventInputError, match="type"):
        event_from_json({"type": "nope", "data": {}})
