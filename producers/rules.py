"""Who may do what, and which event an accepted request becomes (pure: no I/O, no clock).

Each function takes the directory, the caller and the validated body, and returns the event to
publish or raises :class:`~commentfeed.errors.HttpError` carrying the HTTP status and a code.
The events are built with the contract models, so nothing hand-written reaches Kafka.

Rules beyond the contract: comments on a closed article cannot be posted, edited or voted on
(409), but can still be deleted and moderated; a reply's parent must be a live comment of the
same article; a deleted comment is unknown (404); a deleted article is gone with all its
comments (410 ``article_deleted`` for the article and for any of its comments: nothing is left to
edit, vote on or moderate; :func:`cascade` deletes its live comments first); an article id can
be published once (409 after that; use PATCH). An edit is stamped after every earlier edit of
the comment, whatever this process's clock says.
A token with a ``site`` claim acts on that site only (403 ``wrong_site``), and a moderator
moderates the site of their token only; a vote needs a visible comment (409).
A user banned on a site (``user.banned`` until a time still ahead) may not post, edit, vote or
report there (403 ``banned``); deleting their own comments stays open to them. A report needs a
visible comment and is made once per reader (409 ``already_reported``). A new comment waits for
a moderator (``status: "pending"``) when the :class:`~producers.moderation.ModerationPolicy`
holds it. A ban that hides comments publishes one ``comment.moderated`` per visible comment of
the user on the site first (:func:`cascade`), so readers' views change through the events they
already handle. Only a moderator of a site lists its bans in force (:func:`moderator_of`, then
:func:`bans_in_force`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from commentfeed.errors import HttpError
from commentfeed.events import (
    AnyInputEvent,
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
    CommentReported,
    CommentReportedData,
    CommentVoted,
    CommentVotedData,
    UserBanned,
    UserBannedData,
    site_key,
)
from producers.api_models import (
    ActiveBan,
    ArticlePatch,
    Ban,
    BanList,
    CommentPatch,
    Moderation,
    NewArticle,
    NewComment,
    Report,
    Vote,
)
from producers.auth import Reader
from producers.directory import ArticleEntry, CommentEntry, Directory
from producers.moderation import OPEN, ModerationPolicy

SOURCE = "commentfeed/ingest"
#: How much later than the previous edit a new edit is stamped when the clock lags.
EDIT_STEP = timedelta(milliseconds=1)


def _live_article(directory: Directory, article_id: str) -> ArticleEntry:
    article = directory.article(article_id)
    if article is None:
        raise HttpError(404, "article_not_found", f"no article {article_id!r}")
    if article.deleted:
        raise _article_deleted(article_id)
    return article


def _article_deleted(article_id: str) -> HttpError:
    return HttpError(410, "article_deleted",
                   f"article {article_id!r} was deleted, and its comments with it")


def _open_article(directory: Directory, article_id: str) -> ArticleEntry:
    article = _live_article(directory, article_id)
    if article.closed:
        raise _closed(article_id)
    return article


def _live_comment(directory: Directory, comment_id: str) -> tuple[CommentEntry, bool]:
    """The comment, and whether its article is closed."""
    comment = directory.comment(comment_id)
    article = directory.article(comment.article_id) if comment is not None else None
    # The article first: its deletion also deleted its comments, and that is the answer.
    if comment is not None and article is not None and article.deleted:
        raise _article_deleted(comment.article_id)
    if comment is None or comment.deleted:
        raise HttpError(404, "comment_not_found", f"no comment {comment_id!r}")
    return comment, article is not None and article.closed


def _closed(article_id: str) -> HttpError:
    return HttpError(409, "comments_closed", f"comments on {article_id!r} are closed")


def _own_or_moderate(comment: CommentEntry, caller: Reader, action: str) -> None:
    _same_site(caller, comment.site)
    if comment.author_id != caller.id and not caller.moderates(comment.site):
        raise HttpError(403, "not_author",
                      f"only the author or a moderator of the site may {action} it")


def _same_site(caller: Reader, site: str) -> None:
    if not caller.may_act_on(site):
        raise HttpError(403, "wrong_site", f"the token is for site {caller.site!r}, not {site!r}")


def _not_banned(directory: Directory, caller: Reader, site: str, now: datetime) -> None:
    until = directory.banned_until(site, caller.id, now)
    if until is not None:
        raise HttpError(403, "banned", f"you are banned from writing on {site!r} until "
                        f"{until.isoformat()}")


def publish_article(
    directory: Directory, body: NewArticle, *, default_site: str, now: datetime
) -> ArticlePublished:
    if directory.article(body.article_id) is not None:
        raise HttpError(409, "article_exists", f"article {body.article_id!r} exists; use PATCH")
    data = ArticleData(
        article_id=body.article_id, site=body.site or default_site, title=body.title,
        url=body.url, author=body.author, published_at=body.published_at or now,
    )
    return ArticlePublished(source=SOURCE, subject=data.article_id, time=now, data=data)


def update_article(
    directory: Directory, article_id: str, patch: ArticlePatch, *, now: datetime
) -> ArticleUpdated:
    article = _live_article(directory, article_id)
    known = article.details
    title = patch.title or (known.title if known else None)
    url = patch.url or (known.url if known else None)
    author = patch.author or (known.author if known else None)
    published_at = patch.published_at or (known.published_at if known else None)
    if title is None or url is None or author is None or published_at is None:
        # An article known only from an ``article.closed`` record has no details yet.
        raise HttpError(409, "article_incomplete",
                      f"article {article_id!r} has no known details; send every field")
    data = ArticleData(article_id=article_id, site=article.site, title=title, url=url,
                       author=author, published_at=published_at)
    return ArticleUpdated(source=SOURCE, subject=article_id, time=now, data=data)


def close_article(directory: Directory, article_id: str, *, now: datetime) -> ArticleClosed:
    article = _live_article(directory, article_id)
    return ArticleClosed(source=SOURCE, subject=article_id, time=now,
                         data=ArticleRef(article_id=article_id, site=article.site))


def delete_article(directory: Directory, article_id: str, *, now: datetime) -> ArticleDeleted:
    article = _live_article(directory, article_id)
    return ArticleDeleted(source=SOURCE, subject=article_id, time=now,
                          data=ArticleRef(article_id=article_id, site=article.site))


#: ``deleted_by`` of the comments an article's deletion takes with it.
ARTICLE_DELETION = "cms"


def cascade(directory: Directory,
            event: AnyInputEvent) -> list[CommentDeleted | CommentModerated]:
    """What must be published before ``event``: for an article's deletion, a
    ``comment.deleted`` for each of its live comments, oldest first; for a ban that hides
    comments, a ``comment.moderated`` (hidden) for each visible comment of the user on the
    site; else nothing.

    Published before the article's deletion or the ban (and acknowledged), the comments leave
    every view (counts, threads, history, the recent list) through the events every consumer
    already handles, each keyed by its own article.
    """
    if isinstance(event, UserBanned):
        if not event.data.hide_comments:
            return []
        ban = event.data
        return [
            CommentModerated(source=SOURCE, subject=c.article_id, time=event.time,
                             data=CommentModeratedData(
                                 comment_id=c.comment_id, article_id=c.article_id, site=c.site,
                                 status="hidden", moderator=ban.moderator,
                                 reason=ban.reason or "user banned"))
            for c in directory.visible_comments_of(ban.site, ban.user_id)
        ]
    if not isinstance(event, ArticleDeleted):
        return []
    article_id = event.data.article_id
    return [
        CommentDeleted(source=SOURCE, subject=article_id, time=event.time, data=CommentDeletedData(
            comment_id=c.comment_id, article_id=article_id, site=c.site,
            deleted_by=ARTICLE_DELETION, reason="article deleted"))
        for c in directory.live_comments(article_id)
    ]


def post_comment(
    directory: Directory, article_id: str, body: NewComment, caller: Reader, *,
    comment_id: str, now: datetime, policy: ModerationPolicy = OPEN,
) -> CommentPosted:
    article = _open_article(directory, article_id)
    _same_site(caller, article.site)
    _not_banned(directory, caller, article.site, now)
    if body.parent_id is not None:
        parent = directory.comment(body.parent_id)
        if parent is None or parent.deleted or parent.article_id != article_id:
            raise HttpError(404, "parent_not_found",
                          f"no comment {body.parent_id!r} on article {article_id!r}")
    held_for = policy.hold_reasons(article.site, article_id, body.body)
    data = CommentPostedData(
        comment_id=comment_id, article_id=article_id, site=article.site,
        parent_id=body.parent_id, author=Author(id=caller.id, name=caller.name),
        body=body.body, posted_at=now, status="pending" if held_for else "visible",
        held_for=held_for,
    )
    return CommentPosted(source=SOURCE, subject=article_id, time=now, data=data)


def edit_comment(
    directory: Directory, comment_id: str, patch: CommentPatch, caller: Reader, *,
    now: datetime,
) -> CommentEdited:
    comment, closed = _live_comment(directory, comment_id)
    _own_or_moderate(comment, caller, "edit")
    _not_banned(directory, caller, comment.site, now)
    if closed:
        raise _closed(comment.article_id)
    # Consumers keep the edit with the latest edited_at. Ingest clocks differ, so stamp this
    # edit after every edit already in the log (the directory has caught up with it): then
    # the latest stamp is the latest edit in log order, whichever process took each.
    edited_at = now
    if comment.edited_at is not None and edited_at <= comment.edited_at:
        edited_at = comment.edited_at + EDIT_STEP
    data = CommentEditedData(
        comment_id=comment_id, article_id=comment.article_id,
        site=comment.site, body=patch.body, edited_at=edited_at,
    )
    return CommentEdited(source=SOURCE, subject=comment.article_id, time=now, data=data)


def delete_comment(
    directory: Directory, comment_id: str, caller: Reader, *, reason: str | None,
    now: datetime,
) -> CommentDeleted:
    comment, _ = _live_comment(directory, comment_id)
    _own_or_moderate(comment, caller, "delete")
    data = CommentDeletedData(
        comment_id=comment_id, article_id=comment.article_id,
        site=comment.site, deleted_by=caller.id, reason=reason,
    )
    return CommentDeleted(source=SOURCE, subject=comment.article_id, time=now, data=data)


def vote(
    directory: Directory, comment_id: str, ballot: Vote, caller: Reader, *, now: datetime
) -> CommentVoted:
    comment, closed = _live_comment(directory, comment_id)
    _same_site(caller, comment.site)
    _not_banned(directory, caller, comment.site, now)
    if closed:
        raise _closed(comment.article_id)
    if comment.status != "visible":
        raise HttpError(409, "comment_not_visible",
                      f"comment {comment_id!r} is {comment.status}: it cannot be voted on")
    data = CommentVotedData(
        comment_id=comment_id, article_id=comment.article_id,
        site=comment.site, voter_id=caller.id, value=ballot.value,
    )
    return CommentVoted(source=SOURCE, subject=comment.article_id, time=now, data=data)


def moderate(
    directory: Directory, comment_id: str, decision: Moderation, caller: Reader, *,
    now: datetime,
) -> CommentModerated:
    if not caller.is_moderator:
        raise HttpError(403, "not_moderator", "only moderators may moderate comments")
    comment, _ = _live_comment(directory, comment_id)
    _same_site(caller, comment.site)
    data = CommentModeratedData(
        comment_id=comment_id, article_id=comment.article_id,
        site=comment.site,
        status="hidden" if decision.action == "hide" else "visible",
        moderator=caller.id, reason=decision.reason,
    )
    return CommentModerated(source=SOURCE, subject=comment.article_id, time=now, data=data)


def report_comment(
    directory: Directory, comment_id: str, report: Report, caller: Reader, *, now: datetime,
) -> CommentReported:
    comment, _ = _live_comment(directory, comment_id)
    _same_site(caller, comment.site)
    _not_banned(directory, caller, comment.site, now)
    if comment.status != "visible":
        raise HttpError(409, "comment_not_visible",
                        f"comment {comment_id!r} is {comment.status}: a moderator has it already")
    if directory.reported(comment_id, caller.id):
        raise HttpError(409, "already_reported", f"you reported comment {comment_id!r} already")
    data = CommentReportedData(
        comment_id=comment_id, article_id=comment.article_id, site=comment.site,
        reporter_id=caller.id, reason=report.reason, text=report.text,
    )
    return CommentReported(source=SOURCE, subject=comment.article_id, time=now, data=data)


def moderator_of(caller: Reader, site: str, action: str) -> None:
    """Refuse (403) a caller who is not a moderator of ``site``."""
    if not caller.is_moderator:
        raise HttpError(403, "not_moderator", f"only moderators may {action}")
    if not caller.moderates(site):
        raise HttpError(403, "wrong_site", f"the token is for site {caller.site!r}, not {site!r}")


def ban_user(directory: Directory, site: str, ban: Ban, caller: Reader, *,
             now: datetime) -> UserBanned:
    moderator_of(caller, site, "ban users")
    if ban.until <= now:
        raise HttpError(409, "ban_in_the_past", "'until' must be later than now")
    if ban.user_id == caller.id:
        raise HttpError(409, "self_ban", "a moderator cannot ban themselves")
    data = UserBannedData(user_id=ban.user_id, site=site, until=ban.until,
                          hide_comments=ban.hide_comments, moderator=caller.id, reason=ban.reason)
    return UserBanned(source=SOURCE, subject=site_key(site), time=now, data=data)


def lift_ban(directory: Directory, site: str, user_id: str, caller: Reader, *,
             now: datetime) -> UserBanned:
    """A ban that ends now: the latest ``user.banned`` of a user and site is the one that holds."""
    moderator_of(caller, site, "lift bans")
    if directory.banned_until(site, user_id, now) is None:
        raise HttpError(409, "not_banned", f"{user_id!r} is not banned on {site!r}")
    data = UserBannedData(user_id=user_id, site=site, until=now, hide_comments=False,
                          moderator=caller.id, reason="ban lifted")
    return UserBanned(source=SOURCE, subject=site_key(site), time=now, data=data)


def bans_in_force(directory: Directory, site: str, *, now: datetime, limit: int) -> BanList:
    """The site's bans that hold at ``now``, the newest ``limit`` decisions first (the caller
    was checked with :func:`moderator_of`)."""
    found = directory.bans_in_force(site, now)
    listed = [
        ActiveBan(user_id=user_id, name=directory.name_of(user_id), until=ban.until,
                  reason=ban.reason, moderator=ban.moderator,
                  moderator_name=directory.name_of(ban.moderator), banned_at=ban.decided_at)
        for user_id, ban in found[:limit]
    ]
    return BanList(site=site, bans=listed, total=len(found), limit=limit)
