"""The ingest API's view of which articles and comments exist: a pure fold, no I/O.

The API answers 404 (unknown article or comment), 409 (comments closed) and 403 (not the
author) from this view. :mod:`producers.directory_feed` feeds it from the ``articles`` and
``comments`` topics; the API also applies its own events right after the broker acks them, so a
comment posted and edited at once is known when the edit arrives (read-your-writes).

So the same record may be applied twice and out of order (the API's early copy, then the
consumer's). The fold is therefore order-insensitive: every field is combined with a
commutative rule, using the record's offset in its partition (one article's records all live
in one partition, key = article id, so the offsets of one entry are comparable):

- closing and deleting are final (an OR);
- an article's details come from the ``published``/``updated`` record with the highest offset;
- a comment is created by its first ``posted`` record (lowest offset: a duplicate post changes
  nothing); its status is the post's, unless a ``moderated`` record with a higher offset set
  another (the highest such wins);
- a record naming a comment under another article than the one it was posted to is ignored.

It also remembers where the most recent keyed writes landed (event ids from an
``Idempotency-Key``, :mod:`producers.idempotency`), so a retry through any process can be
answered with the first write's position instead of publishing again. A duplicate record of
the same event keeps the lowest offset.

Moderation facts: which reader reported which comment (a set: a report is made once), and each
user's ban per site (``user.banned`` records of a site share its ``site:<site>`` key, so one
partition: the highest offset is the latest decision and wins), with its moderator, reason and
time for the desk's list of bans. For that list it also keeps each author's display name, from
the latest ``comment.posted`` of theirs it folded in (names come from tokens; a user renamed
between two posts in different partitions may show either name).

It remembers each comment's last ``edited_at`` too, so a new edit can be stamped later than
every edit before it in the log (clocks of ingest processes differ; the log order must win).

Memory: one small entry per article and per comment ever published (about 250 bytes per
comment in CPython, id string included), one name per author (about 175 bytes with demo-style
ids and names) and one entry per banned user and site, in every ingest process. There is no
eviction: deleted comments stay as tombstones so a late edit gets 404 rather than resurrecting
them.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, replace
from datetime import datetime

from commentfeed.events import (
    AnyInputEvent,
    ArticleClosed,
    ArticleData,
    ArticleDeleted,
    ArticlePublished,
    ArticleUpdated,
    CommentDeleted,
    CommentEdited,
    CommentModerated,
    CommentPosted,
    CommentReported,
    CommentStatus,
    CommentVoted,
    UserBanned,
    partition_key,
)

_NEVER = -1
#: Keyed writes remembered for cross-process retries (about 260 bytes each, id included).
MAX_LANDED = 100_000


@dataclass(frozen=True, slots=True)
class Landed:
    """Where a keyed write's event was stored."""

    event_type: str
    article_id: str
    comment_id: str | None
    topic: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class ArticleEntry:
    article_id: str
    site: str
    #: Title, url, author and time are kept so a partial PATCH can publish a whole article;
    #: None while only a close or delete of the article has been seen.
    details: ArticleData | None = None
    details_offset: int = _NEVER
    closed: bool = False
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class CommentEntry:
    comment_id: str
    article_id: str
    site: str
    #: None until the comment's ``posted`` record is seen.
    author_id: str | None = None
    posted_offset: int | None = None
    post_status: CommentStatus = "visible"
    moderated_offset: int = _NEVER
    moderated_status: CommentStatus = "visible"
    deleted: bool = False
    #: The latest ``edited_at`` seen (any order): new edits are stamped after it.
    edited_at: datetime | None = None

    @property
    def posted(self) -> bool:
        return self.posted_offset is not None

    @property
    def status(self) -> CommentStatus:
        if self.posted_offset is not None and self.moderated_offset > self.posted_offset:
            return self.moderated_status
        return self.post_status


@dataclass(frozen=True, slots=True)
class BanEntry:
    """The latest ban decision of a user on a site (a lift is a ban that ends when it is made)."""

    #: The ``user.banned`` record's offset in its partition (all of the site's bans share one).
    offset: int
    until: datetime
    moderator: str
    reason: str | None
    #: When the moderator decided: the event's ``time``.
    decided_at: datetime


class Directory:
    """Articles and comments by id. :meth:`apply` is the whole fold."""

    def __init__(self, max_landed: int = MAX_LANDED) -> None:
        self.articles: dict[str, ArticleEntry] = {}
        #: Includes entries of comments whose post has not been seen; see :meth:`comment`.
        self.comments: dict[str, CommentEntry] = {}
        self._landed: OrderedDict[str, Landed] = OrderedDict()
        self._max_landed = max_landed
        #: (comment id, reporter id) of every report seen.
        self.reports: set[tuple[str, str]] = set()
        #: (site, user id) -> the latest ban decision.
        self.bans: dict[tuple[str, str], BanEntry] = {}
        #: User id -> the author name of the latest ``comment.posted`` of theirs folded in.
        self.names: dict[str, str] = {}

    def reported(self, comment_id: str, reporter_id: str) -> bool:
        return (comment_id, reporter_id) in self.reports

    def banned_until(self, site: str, user_id: str, now: datetime) -> datetime | None:
        """When the user's ban on ``site`` ends, if it has not ended by ``now``."""
        ban = self.bans.get((site, user_id))
        return ban.until if ban is not None and ban.until > now else None

    def bans_in_force(self, site: str, now: datetime) -> list[tuple[str, BanEntry]]:
        """(user id, ban) of the site's bans not ended by ``now``, newest decision first.

        A scan of every ban of every site: bans are few, and only moderators list them.
        """
        found = [(user_id, ban) for (ban_site, user_id), ban in self.bans.items()
                 if ban_site == site and ban.until > now]
        return sorted(found, key=lambda item: item[1].offset, reverse=True)

    def name_of(self, user_id: str) -> str | None:
        """The user's display name on their latest comment seen, if any."""
        return self.names.get(user_id)

    def visible_comments_of(self, site: str, author_id: str) -> list[CommentEntry]:
        """The user's visible, undeleted comments on ``site``, oldest post first.

        A scan of every comment: it serves bans that hide comments, which are rare.
        """
        found = [c for c in self.comments.values()
                 if c.site == site and c.author_id == author_id and c.posted
                 and not c.deleted and c.status == "visible"]
        return sorted(found, key=lambda c: c.posted_offset or 0)

    def landed(self, event_id: str) -> Landed | None:
        """Where the keyed write with this event id landed, if it did (and is remembered)."""
        return self._landed.get(event_id)

    def article(self, article_id: str) -> ArticleEntry | None:
        return self.articles.get(article_id)

    def comment(self, comment_id: str) -> CommentEntry | None:
        """A comment whose post has been seen (deleted ones included: check ``deleted``)."""
        entry = self.comments.get(comment_id)
        return entry if entry is not None and entry.posted else None

    def live_comments(self, article_id: str) -> list[CommentEntry]:
        """The article's posted, undeleted comments, oldest post first.

        A scan of every comment: it serves article deletion only, which is rare.
        """
        found = [c for c in self.comments.values()
                 if c.article_id == article_id and c.posted_offset is not None and not c.deleted]
        return sorted(found, key=lambda c: c.posted_offset or 0)

    @property
    def comment_count(self) -> int:
        return sum(1 for c in self.comments.values() if c.posted)

    def apply(
        self, event: AnyInputEvent, offset: int, *, topic: str = "", partition: int = -1,
        keyed_prefix: str | None = None,
    ) -> bool:
        """Fold one record (from the consumer, or just published by the API) into the view.

        ``offset`` is the record's offset in its partition. An event whose id starts with
        ``keyed_prefix`` is remembered as landed at (topic, partition, offset). Returns whether
        anything changed.
        """
        if keyed_prefix is not None and event.id.startswith(keyed_prefix):
            self._remember(event, topic, partition, offset)
        if isinstance(event, ArticlePublished | ArticleUpdated | ArticleClosed | ArticleDeleted):
            return self._apply_article(event, offset)
        if isinstance(event, CommentReported):
            known = (event.data.comment_id, event.data.reporter_id) in self.reports
            self.reports.add((event.data.comment_id, event.data.reporter_id))
            return not known
        if isinstance(event, UserBanned):
            return self._apply_ban(event, offset)
        return self._apply_comment(event, offset)

    def _apply_ban(self, event: UserBanned, offset: int) -> bool:
        who = (event.data.site, event.data.user_id)
        known = self.bans.get(who)
        if known is not None and known.offset >= offset:
            return False
        self.bans[who] = BanEntry(offset, event.data.until, event.data.moderator,
                                  event.data.reason, event.time)
        return True

    def _remember(self, event: AnyInputEvent, topic: str, partition: int, offset: int) -> None:
        known = self._landed.get(event.id)
        if known is not None and known.offset <= offset:
            return
        comment_id = None if isinstance(event, ArticlePublished | ArticleUpdated | ArticleClosed
                                        | ArticleDeleted | UserBanned) else event.data.comment_id
        self._landed[event.id] = Landed(event.type, partition_key(event), comment_id, topic,
                                        partition, offset)
        while len(self._landed) > self._max_landed:
            self._landed.popitem(last=False)

    def _apply_article(
        self,
        event: ArticlePublished | ArticleUpdated | ArticleClosed | ArticleDeleted,
        offset: int,
    ) -> bool:
        article_id = event.data.article_id
        old = self.articles.get(article_id) or ArticleEntry(article_id, event.data.site)
        if isinstance(event, ArticlePublished | ArticleUpdated):
            new = old
            if offset > old.details_offset:
                new = replace(old, site=event.data.site, details=event.data,
                              details_offset=offset)
        elif isinstance(event, ArticleClosed):
            new = replace(old, closed=True)
        else:
            new = replace(old, deleted=True)
        if self.articles.get(article_id) == new:
            return False
        self.articles[article_id] = new
        return True

    def _apply_comment(
        self,
        event: CommentPosted | CommentEdited | CommentDeleted | CommentModerated | CommentVoted,
        offset: int,
    ) -> bool:
        if isinstance(event, CommentVoted):
            return False  # nothing the API checks
        data = event.data
        current = self.comments.get(data.comment_id)
        if current is not None and current.article_id != data.article_id:
            return False
        old = current or CommentEntry(data.comment_id, data.article_id, data.site)
        if isinstance(event, CommentPosted):
            self.names[event.data.author.id] = event.data.author.name
            new = old
            if old.posted_offset is None or offset < old.posted_offset:
                new = replace(old, author_id=event.data.author.id, posted_offset=offset,
                              post_status=event.data.status)
        elif isinstance(event, CommentModerated):
            new = old
            if offset > old.moderated_offset:
                new = replace(old, moderated_offset=offset, moderated_status=event.data.status)
        elif isinstance(event, CommentEdited):
            new = old
            if old.edited_at is None or event.data.edited_at > old.edited_at:
                new = replace(old, edited_at=event.data.edited_at)
        else:
            new = replace(old, deleted=True)
        if current == new:
            return False
        self.comments[data.comment_id] = new
        return True

