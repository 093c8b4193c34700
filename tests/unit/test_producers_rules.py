"""Who may do what, and which event a request becomes (pure rules, no broker)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from commentfeed.errors import HttpError
from commentfeed.events import (
    ArticleClosed,
    ArticleData,
    ArticlePublished,
    ArticleRef,
    Author,
    CommentDeleted,
    CommentDeletedData,
    CommentPosted,
    CommentPostedData,
)
from producers import rules
from producers.api_models import (
    ArticlePatch,
    CommentPatch,
    Moderation,
    NewArticle,
    NewComment,
    Vote,
)
from producers.auth import Reader
from producers.directory import Directory

NOW = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)
ANN = Reader("u-ann", "Ann", "reader")
BOB = Reader("u-bob", "Bob", "reader")
MOD = Reader("u-mod", "Mia", "moderator", site="metro")


@pytest.fixture
def directory() -> Directory:
    d = Directory()
    for offset, article_id in enumerate(["open", "shut", "gone"]):
        d.apply(ArticlePublished(subject=article_id, data=ArticleData(
            article_id=article_id, site="metro", title="T", url="https://n.example/x",
            author="W", published_at=NOW)), offset)
    d.apply(ArticleClosed(subject="shut", data=ArticleRef(article_id="shut", site="metro")), 10)
    d.apply(ArticleClosed(subject="gone", data=ArticleRef(article_id="gone", site="metro")), 11)
    for offset, (comment_id, article_id) in enumerate(
            [("c-open", "open"), ("c-shut", "shut"), ("c-dead", "open")]):
        d.apply(CommentPosted(subject=article_id, data=CommentPostedData(
            comment_id=comment_id, article_id=article_id, site="metro",
            author=Author(id="u-ann", name="Ann"), body="Hi.", posted_at=NOW)), offset)
    d.apply(CommentDeleted(subject="open", data=CommentDeletedData(
        comment_id="c-dead", article_id="open", site="metro", deleted_by="u-ann")), 5)
    return d


def refusal(call: object) -> tuple[int, str]:
    assert callable(call)
    with pytest.raises(HttpError) as caught:
        call()
    return caught.value.status, caught.value.code


def test_a_post_becomes_comment_posted_with_the_callers_identity(directory: Directory) -> None:
    event = rules.post_comment(directory, "open", NewComment(body="Hello", parent_id="c-open"),
                               BOB, comment_id="c-new", now=NOW)
    assert event.subject == "open"
    assert event.data.author == Author(id="u-bob", name="Bob")
    assert (event.data.comment_id, event.data.parent_id, event.data.site) == (
        "c-new", "c-open", "metro")
    assert event.time == event.data.posted_at == NOW


def test_posting_is_refused_on_unknown_closed_or_deleted_articles(directory: Directory) -> None:
    body = NewComment(body="Hello")
    post = rules.post_comment
    assert refusal(lambda: post(directory, "nope", body, ANN, comment_id="c", now=NOW)) == (
        404, "article_not_found")
    assert refusal(lambda: post(directory, "shut", body, ANN, comment_id="c", now=NOW)) == (
        409, "comments_closed")
    directory.apply(rules.delete_article(directory, "open", now=NOW), 20)
    assert refusal(lambda: post(directory, "open", body, ANN, comment_id="c", now=NOW)) == (
        410, "article_deleted")


def test_a_reply_needs_a_live_parent_on_the_same_article(directory: Directory) -> None:
    def reply(parent: str) -> object:
        return lambda: rules.post_comment(directory, "open", NewComment(body="x", parent_id=parent),
                                          ANN, comment_id="c", now=NOW)
    assert refusal(reply("c-missing")) == (404, "parent_not_found")
    assert refusal(reply("c-dead")) == (404, "parent_not_found")
    assert refusal(reply("c-shut")) == (404, "parent_not_found")


def test_only_the_author_or_a_moderator_edits_or_deletes(directory: Directory) -> None:
    patch = CommentPatch(body="Changed")
    assert rules.edit_comment(directory, "c-open", patch, ANN, now=NOW).data.body == "Changed"
    assert rules.edit_comment(directory, "c-open", patch, MOD, now=NOW).data.comment_id == "c-open"
    assert refusal(lambda: rules.edit_comment(directory, "c-open", patch, BOB, now=NOW)) == (
        403, "not_author")
    assert refusal(lambda: rules.delete_comment(directory, "c-open", BOB, reason=None,
                                                now=NOW)) == (403, "not_author")
    by_mod = rules.delete_comment(directory, "c-open", MOD, reason="spam", now=NOW)
    assert (by_mod.data.deleted_by, by_mod.data.reason) == ("u-mod", "spam")


def test_closed_articles_refuse_edits_and_votes_but_allow_deletes(directory: Directory) -> None:
    assert refusal(lambda: rules.edit_comment(directory, "c-shut", CommentPatch(body="x"), ANN,
                                              now=NOW)) == (409, "comments_closed")
    assert refusal(lambda: rules.vote(directory, "c-shut", Vote(value=1), BOB, now=NOW)) == (
        409, "comments_closed")
    assert rules.delete_comment(directory, "c-shut", ANN, reason=None, now=NOW).data.site == "metro"


def test_deleted_comments_are_unknown(directory: Directory) -> None:
    assert refusal(lambda: rules.vote(directory, "c-dead", Vote(value=1), BOB, now=NOW)) == (
        404, "comment_not_found")
    assert refusal(lambda: rules.moderate(directory, "c-dead", Moderation(action="hide"), MOD,
                                          now=NOW)) == (404, "comment_not_found")


def test_comments_of_a_deleted_article_are_gone_with_it(directory: Directory) -> None:
    directory.apply(rules.delete_article(directory, "open", now=NOW), 30)
    gone = (410, "article_deleted")
    assert refusal(lambda: rules.vote(directory, "c-open", Vote(value=1), BOB, now=NOW)) == gone
    # A moderator gets the same clear answer: nothing is left to moderate.
    assert refusal(lambda: rules.moderate(directory, "c-open", Moderation(action="hide"), MOD,
                                          now=NOW)) == gone
    assert refusal(lambda: rules.delete_comment(directory, "c-open", MOD, reason=None,
                                                now=NOW)) == gone
    assert refusal(lambda: rules.close_article(directory, "open", now=NOW)) == gone
    assert refusal(lambda: rules.post_comment(directory, "open", NewComment(body="Hi"), ANN,
                                              comment_id="c-x", now=NOW)) == gone


def test_a_moderator_moderates_the_site_of_their_token_only(directory: Directory) -> None:
    elsewhere = Reader("u-mod", "Mia", "moderator", site="sport")
    assert refusal(lambda: rules.moderate(directory, "c-open", Moderation(action="hide"),
                                          elsewhere, now=NOW)) == (403, "wrong_site")
    assert refusal(lambda: rules.edit_comment(directory, "c-open", CommentPatch(body="x"),
                                              elsewhere, now=NOW)) == (403, "wrong_site")
    # A reader token bound to another site cannot post or vote here either.
    sport_reader = Reader("u-bob", "Bob", "reader", site="sport")
    assert refusal(lambda: rules.post_comment(directory, "open", NewComment(body="Hi"),
                                              sport_reader, comment_id="c-y", now=NOW)) == (
        403, "wrong_site")
    assert refusal(lambda: rules.vote(directory, "c-open", Vote(value=1), sport_reader,
                                      now=NOW)) == (403, "wrong_site")


def test_hidden_and_pending_comments_cannot_be_voted_on(directory: Directory) -> None:
    directory.apply(rules.moderate(directory, "c-open", Moderation(action="hide"), MOD, now=NOW),
                    40)
    assert refusal(lambda: rules.vote(directory, "c-open", Vote(value=1), BOB, now=NOW)) == (
        409, "comment_not_visible")


def test_moderation_needs_the_moderator_role_first(directory: Directory) -> None:
    # The role is checked before the comment: a reader learns nothing about which ids exist.
    assert refusal(lambda: rules.moderate(directory, "c-missing", Moderation(action="hide"), ANN,
                                          now=NOW)) == (403, "not_moderator")
    hidden = rules.moderate(directory, "c-open", Moderation(action="hide", reason="rude"), MOD,
                            now=NOW)
    assert (hidden.data.status, hidden.data.moderator, hidden.data.reason) == (
        "hidden", "u-mod", "rude")
    approved = rules.moderate(directory, "c-open", Moderation(action="approve"), MOD, now=NOW)
    assert approved.data.status == "visible"


def test_a_vote_carries_the_voter(directory: Directory) -> None:
    event = rules.vote(directory, "c-open", Vote(value=-1), BOB, now=NOW)
    assert (event.data.voter_id, event.data.value, event.subject) == ("u-bob", -1, "open")


def test_articles_publish_once_and_patch_merges_known_details(directory: Directory) -> None:
    new = NewArticle(article_id="fresh", title="Fresh", url="https://n.example/f", author="A")
    event = rules.publish_article(directory, new, default_site="demo", now=NOW)
    assert (event.data.site, event.data.published_at) == ("demo", NOW)
    assert refusal(lambda: rules.publish_article(
        directory, new.model_copy(update={"article_id": "open"}), default_site="demo",
        now=NOW)) == (409, "article_exists")
    updated = rules.update_article(directory, "open", ArticlePatch(title="Better"), now=NOW)
    assert (updated.data.title, updated.data.url, updated.data.site) == (
        "Better", "https://n.example/x", "metro")


def test_an_article_known_only_from_a_close_needs_every_field(directory: Directory) -> None:
    directory.apply(ArticleClosed(subject="bare", data=ArticleRef(article_id="bare", site="m")), 0)
    assert refusal(lambda: rules.update_article(directory, "bare", ArticlePatch(title="T"),
                                                now=NOW)) == (409, "article_incomplete")
    whole = ArticlePatch(title="T", url="https://n.example/b", author="A", published_at=NOW)
    assert rules.update_article(directory, "bare", whole, now=NOW).data.site == "m"


def test_an_edit_is_stamped_after_every_earlier_edit_whatever_the_clock(
        directory: Directory) -> None:
    # Another process, its clock 10 s ahead, edited first; this clock says 10 s earlier.
    ahead = rules.edit_comment(directory, "c-open", CommentPatch(body="First."), ANN,
                               now=NOW + timedelta(seconds=10))
    directory.apply(ahead, 50)
    later = rules.edit_comment(directory, "c-open", CommentPatch(body="Second."), ANN, now=NOW)
    assert later.data.edited_at > ahead.data.edited_at
    directory.apply(later, 51)
    third = rules.edit_comment(directory, "c-open", CommentPatch(body="Third."), ANN, now=NOW)
    assert third.data.edited_at > later.data.edited_at
    # A clock that is ahead keeps its own time.
    assert rules.edit_comment(directory, "c-open", CommentPatch(body="x"), ANN,
                              now=NOW + timedelta(hours=1)).data.edited_at == (
        NOW + timedelta(hours=1))


def test_deleting_an_article_takes_its_live_comments_with_it(directory: Directory) -> None:
    deleted = rules.delete_article(directory, "open", now=NOW)
    comments = rules.cascade(directory, deleted)
    # c-dead was deleted before; c-shut belongs to another article.
    assert [(c.data.comment_id, c.data.deleted_by, c.data.reason) for c in comments] == [
        ("c-open", "cms", "article deleted")]
    assert rules.cascade(directory, rules.close_article(directory, "open", now=NOW)) == []
