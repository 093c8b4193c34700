"""The ingest API's view of which articles and comments exist: a pure fold, no I/O.

The API answers 404 (unknown article or comment), 409 (comments closed) and 403 (not the
author) from this view. :mod:`producers.directory_feed` feeds it from the ``articles`` and
``comments`` topics; the API also applies its own events right after the broker acks them, so a
comment posted and edited at once is known when the edit arrives (read-your-writes).

Every entry keeps the offset of the record that last changed it, and a record at or below that
offset is skipped. One article's records all live in one partition (key = article id), so the
offsets of one entry are comparable: the API's early apply and the consumer's later copy of
the same record fold to the same state, in either order. A record whose article id does not
match the entry it names is ignored, since its offset would come from another partition.

Memory: one small entry per article and per comment ever published (roughly 200-300 bytes per
comment in CPython), kept in each ingest process. There is no eviction: deleted comments stay
as tombstones so a late edit still gets 404, not a resurrection.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from commentfeed.events import (
    ArticleClosed,
    ArticleData,
    ArticleDeleted,
    ArticlePublished,
    ArticleUpdated,
    CommentDeleted,
    CommentEdited,
    CommentModerated,
    CommentPosted,
    CommentStatus,
    CommentVoted,
    InputEvent,
)


@dataclass(frozen=True, slots=True)
class ArticleEntry:
    article_id: str
    site: str
    #: Title, url, author and time are kept so a partial PATCH can publish a whole article.
    title: str | None
    url: str | None
    author: str | None
    published_at: datetime | None
    closed: bool
    deleted: bool
    #: Offset in the ``articles`` partition of the record that last changed this entry.
    offset: int

    def data(self) -> ArticleData | None:
        """The article as an ``article.updated`` payload, if its details are known."""
        if self.title is None or self.url is None or self.author is None:
            return None
        if self.published_at is None:
            return None
        return ArticleData(
            article_id=self.article_id, site=self.site, title=self.title, url=self.url,
            author=self.author, published_at=self.published_at,
        )


@dataclass(frozen=True, slots=True)
class CommentEntry:
    comment_id: str
    article_id: str
    site: str
    author_id: str
    status: CommentStatus
    deleted: bool
    #: Offset in the ``comments`` partition of the record that last changed this entry.
    offset: int


class Directory:
    """Articles and comments by id. :meth:`apply` is the whole fold."""

    def __init__(self) -> None:
        self.articles: dict[str, ArticleEntry] = {}
        self.comments: dict[str, CommentEntry] = {}

    def article(self, article_id: str) -> ArticleEntry | None:
        return self.articles.get(article_id)

    def comment(self, comment_id: str) -> CommentEntry | None:
        return self.comments.get(comment_id)

    def apply(self, event: InputEvent, offset: int) -> bool:
        """Fold one record (from the consumer, or just published by the API) into the view.

        ``offset`` is the record's offset in its partition. Returns whether anything changed.
        """
        if isinstance(event, ArticlePublished | ArticleUpdated | ArticleClosed | ArticleDeleted):
            return self._apply_article(event, offset)
        return self._apply_comment(event, offset)

    def _apply_article(
        self,
        event: ArticlePublished | ArticleUpdated | ArticleClosed | ArticleDeleted,
        offset: int,
    ) -> bool:
        data = event.data
        old = self.articles.get(data.article_id)
        if old is not None and offset <= old.offset:
            return False
        if old is None:
            old = ArticleEntry(
                article_id=data.article_id, site=data.site, title=None, url=None, author=None,
                published_at=None, closed=False, deleted=False, offset=offset,
            )
        # Closing and deleting have no inverse event: both are final.
        if isinstance(event, ArticlePublished | ArticleUpdated):
            d = event.data
            new = replace(old, site=d.site, title=d.title, url=d.url, author=d.author,
                          published_at=d.published_at, offset=offset)
        elif isinstance(event, ArticleClosed):
            new = replace(old, closed=True, offset=offset)
        else:
            new = replace(old, deleted=True, offset=offset)
        self.articles[data.article_id] = new
        return True

    def _apply_comment(
        self,
        event: CommentPosted | CommentEdited | CommentDeleted | CommentModerated | CommentVoted,
        offset: int,
    ) -> bool:
        data = event.data
        old = self.comments.get(data.comment_id)
        if isinstance(event, CommentPosted):
            # The first post of an id wins; a later duplicate changes nothing.
            if old is not None:
                return False
            self.comments[data.comment_id] = CommentEntry(
                comment_id=data.comment_id, article_id=data.article_id, site=data.site,
                author_id=event.data.author.id, status=event.data.status, deleted=False,
                offset=offset,
            )
            return True
        if old is None or old.article_id != data.article_id or offset <= old.offset:
            return False
        if isinstance(event, CommentDeleted):
            new = replace(old, deleted=True, offset=offset)
        elif isinstance(event, CommentModerated):
            new = replace(old, status=event.data.status, offset=offset)
        else:
            # Edits and votes change nothing the API checks.
            return False
        self.comments[data.comment_id] = new
        return True
