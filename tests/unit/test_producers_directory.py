"""The directory fold: what the ingest API knows, whatever order records arrive in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from commentfeed.events import (
    ArticleClosed,
    ArticleData,
    ArticleDeleted,
    ArticlePublished,
    ArticleRef,
    ArticleUpdated,
    Author,
    CommentDeleted,
    CommentDeletedData,
    CommentEdited,
    CommentEditedData,
    CommentModerated,
    CommentModeratedData,
    CommentPosted,
    CommentPostedData,
    InputEvent,
)
from producers.directory import Directory

NOW = datetime(2026, 3, 14, 9, 0, tzinfo=UTC)


def published(article_id: str = "a1", title: str = "Title", *, updated: bool = False,
              ) -> ArticlePublished | ArticleUpdated:
    data = ArticleData(article_id=article_id, site="demo", title=title,
                       url="https://news.example/a", author="Writer", published_at=NOW)
    if updated:
        return ArticleUpdated(subject=article_id, data=data)
    return ArticlePublished(subject=article_id, data=data)


def closed(article_id: str = "a1") -> ArticleClosed:
    return ArticleClosed(subject=article_id, data=ArticleRef(article_id=article_id, site="demo"))


def deleted_article(article_id: str = "a1") -> ArticleDeleted:
    return ArticleDeleted(subject=article_id, data=ArticleRef(article_id=article_id, site="demo"))


def posted(comment_id: str = "c1", article_id: str = "a1", author: str = "u-ann",
           status: str = "visible") -> CommentPosted:
    return CommentPosted(subject=article_id, data=CommentPostedData.model_validate({
        "comment_id": comment_id, "article_id": article_id, "site": "demo",
        "author": Author(id=author, name="Ann"), "body": "Text.", "posted_at": NOW,
        "status": status}))


def moderated(status: str, comment_id: str = "c1", article_id: str = "a1") -> CommentModerated:
    return CommentModerated(subject=article_id, data=CommentModeratedData.model_validate({
        "comment_id": comment_id, "article_id": article_id, "site": "demo", "status": status,
        "moderator": "u-mod"}))


def deleted(comment_id: str = "c1", article_id: str = "a1") -> CommentDeleted:
    return CommentDeleted(subject=article_id, data=CommentDeletedData(
        comment_id=comment_id, article_id=article_id, site="demo", deleted_by="u-ann"))


def edited(comment_id: str = "c1") -> CommentEdited:
    return CommentEdited(subject="a1", data=CommentEditedData(
        comment_id=comment_id, article_id="a1", site="demo", body="New.", edited_at=NOW))


def fold(log: list[tuple[InputEvent, int]]) -> Directory:
    directory = Directory()
    for event, offset in log:
        directory.apply(event, offset)
    return directory


def test_an_article_is_known_with_its_details_after_publishing() -> None:
    d = fold([(published(title="First"), 0), (published(title="Second", updated=True), 1)])
    entry = d.article("a1")
    assert entry is not None
    assert entry.details is not None
    assert entry.details.title == "Second"
    assert (entry.closed, entry.deleted) == (False, False)


def test_an_older_update_arriving_late_does_not_win() -> None:
    d = fold([(published(title="Newest", updated=True), 5), (published(title="Older"), 2)])
    entry = d.article("a1")
    assert entry is not None
    assert entry.details is not None
    assert entry.details.title == "Newest"


def test_closing_and_deleting_are_final() -> None:
    d = fold([(published(), 0), (closed(), 1), (deleted_article(), 2),
              (published(title="Again", updated=True), 3)])
    entry = d.article("a1")
    assert entry is not None
    assert (entry.closed, entry.deleted) == (True, True)


def test_a_comment_exists_once_posted_and_keeps_its_first_author() -> None:
    d = Directory()
    assert d.apply(posted(author="u-ann"), 3)
    assert not d.apply(posted(author="u-ann"), 3)  # the same record again
    entry = d.comment("c1")
    assert entry is not None
    assert (entry.article_id, entry.author_id, entry.status, entry.deleted) == (
        "a1", "u-ann", "visible", False)


def test_moderation_after_the_post_sets_the_status() -> None:
    d = fold([(posted(), 0), (moderated("hidden"), 1)])
    assert d.comment("c1") is not None
    assert d.comment("c1").status == "hidden"  # type: ignore[union-attr]
    d.apply(moderated("visible"), 2)
    assert d.comment("c1").status == "visible"  # type: ignore[union-attr]


def test_a_moderation_seen_before_its_post_does_not_make_the_comment_known() -> None:
    d = fold([(moderated("hidden"), 4)])
    assert d.comment("c1") is None
    d.apply(posted(), 1)
    assert d.comment("c1").status == "hidden"  # type: ignore[union-attr]


def test_a_record_naming_another_article_is_ignored() -> None:
    d = fold([(posted(article_id="a1"), 0)])
    assert not d.apply(deleted(article_id="a2"), 9)
    assert d.comment("c1").deleted is False  # type: ignore[union-attr]


def test_an_edit_is_remembered_by_its_latest_stamp_in_any_order() -> None:
    d = fold([(posted(), 0)])
    assert d.apply(edited(), 1)
    entry = d.comment("c1")
    assert entry is not None
    assert entry.edited_at == NOW
    older = CommentEdited(subject="a1", data=CommentEditedData(
        comment_id="c1", article_id="a1", site="demo", body="Old.",
        edited_at=NOW - timedelta(seconds=5)))
    assert not d.apply(older, 2)


def test_keyed_writes_are_remembered_where_they_first_landed() -> None:
    d = Directory(max_landed=2)
    first = posted().model_copy(update={"id": "k-1"})
    d.apply(first, 7, topic="comments", partition=3, keyed_prefix="k-")
    d.apply(first, 9, topic="comments", partition=3, keyed_prefix="k-")  # a duplicate
    landed = d.landed("k-1")
    assert landed is not None
    assert (landed.event_type, landed.comment_id, landed.partition, landed.offset) == (
        "comment.posted", "c1", 3, 7)
    d.apply(posted().model_copy(update={"id": "plain"}), 10, keyed_prefix="k-")
    assert d.landed("plain") is None
    for n in (2, 3):  # the oldest go first
        d.apply(closed().model_copy(update={"id": f"k-{n}"}), n, keyed_prefix="k-")
    assert d.landed("k-1") is None
    assert d.landed("k-3") is not None


# -- order does not matter ---------------------------------------------------------------------

_COMMENT_EVENTS = st.sampled_from([
    lambda c, a: posted(c, a),
    lambda c, a: posted(c, a, status="pending"),
    lambda c, a: moderated("hidden", c, a),
    lambda c, a: moderated("visible", c, a),
    lambda c, a: deleted(c, a),
])
_ARTICLE_EVENTS = st.sampled_from([
    lambda a: published(a),
    lambda a: published(a, "Updated", updated=True),
    lambda a: closed(a),
    lambda a: deleted_article(a),
])


@st.composite
def logs(draw: st.DrawFn) -> list[tuple[InputEvent, int]]:
    """A partition's worth of records: each article's records at increasing offsets."""
    log: list[tuple[InputEvent, int]] = []
    for offset in range(draw(st.integers(1, 25))):
        if draw(st.booleans()):
            article_id = draw(st.sampled_from(["a1", "a2"]))
            log.append((draw(_ARTICLE_EVENTS)(article_id), offset))
        else:
            comment_id = draw(st.sampled_from(["c1", "c2", "c3"]))
            # A comment belongs to one article (c3 to a2); its records share its partition.
            owner = "a2" if comment_id == "c3" else "a1"
            log.append((draw(_COMMENT_EVENTS)(comment_id, owner), offset))
    return log


@settings(max_examples=300, deadline=None)
@given(log=logs(), data=st.data())
def test_any_interleaving_with_duplicates_folds_to_the_in_order_state(
    log: list[tuple[InputEvent, int]], data: st.DataObject,
) -> None:
    """The API applies its own records early and the consumer applies them again later."""
    shuffled = data.draw(st.permutations(log))
    repeated = data.draw(st.lists(st.sampled_from(log), max_size=10)) if log else []
    in_order = fold(log)
    any_order = fold([*shuffled, *repeated])
    assert any_order.articles == in_order.articles
    assert {k: v for k, v in any_order.comments.items() if v.posted} == {
        k: v for k, v in in_order.comments.items() if v.posted}
