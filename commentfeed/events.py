"""The event contract: pydantic models for every record on every commentfeed topic.

Input events (``articles``, ``comments``) and derived ones (``feed.updates``, ``feed.counts``)
are CloudEvents 1.0 in structured mode: an envelope with ``type`` as the tag and ``data`` as the
payload. ``comments.dlq`` carries :class:`DeadLetter`. These models are the single source of
truth; JSON Schema in docs/schemas/ and the payloads in docs/asyncapi.yaml are generated from them.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeAlias, get_args

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from commentfeed.channels import ID_REGEX, UpdateKind

# -- field types -------------------------------------------------------------------------------

Id = Annotated[str, StringConstraints(pattern=ID_REGEX)]

#: Characters that show nothing by themselves: controls, format characters (zero-width,
#: bidi), separators, surrogates, private use and unassigned code points.
_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"})
#: Control characters (category Cc is exactly these ranges) other than line layout, and
#: surrogates (Cs): one regex scan instead of a category lookup per character, which was a few
#: % of the worker's CPU per comment.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_CONTROL_OR_LAYOUT = re.compile("[\x00-\x1f\x7f-\x9f]")
_SURROGATE = re.compile("[\ud800-\udfff]")
#: Visible ASCII (letters, digits, punctuation, symbols): one of them makes text visible.
_VISIBLE_ASCII = re.compile("[!-~]")


def _printable(text: str, *, lines: bool) -> str:
    """Refuse text a reader could not see, or that breaks consumers (NUL, lone surrogates)."""
    if _SURROGATE.search(text):
        raise ValueError("contains a lone surrogate (not valid Unicode text)")
    control = (_CONTROL if lines else _CONTROL_OR_LAYOUT).search(text)
    if control:
        raise ValueError(f"contains the control character U+{ord(control[0]):04X}")
    if not _VISIBLE_ASCII.search(text) and not any(
            unicodedata.category(ch) not in _INVISIBLE for ch in text):
        raise ValueError("must contain visible text, not only invisible or control characters")
    return text


def _one_line(text: str) -> str:
    return _printable(text, lines=False)


def _multi_line(text: str) -> str:
    return _printable(text, lines=True)


Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80),
    AfterValidator(_one_line),
]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Url = Annotated[str, StringConstraints(pattern=r"^https?://\S{1,2040}$")]
MAX_BODY_CHARS = 5_000
Body = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_BODY_CHARS),
    AfterValidator(_multi_line),
]
Reason = Annotated[str, StringConstraints(max_length=500)]
Timestamp = AwareDatetime
CommentStatus = Literal["visible", "pending", "hidden"]


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_event_id() -> str:
    return uuid.uuid4().hex


class _Model(BaseModel):
    # Frozen and strict about unknown fields: a typo in a producer is an error, not data loss.
    # Fields with defaults are always on the wire, so schemas mark them required for readers.
    model_config = ConfigDict(
        frozen=True, extra="forbid", json_schema_serialization_defaults_required=True
    )


# -- data payloads of input events -------------------------------------------------------------


class Author(_Model):
    id: Id
    name: Name


class ArticleData(_Model):
    """``article.published`` / ``article.updated``."""

    article_id: Id
    site: Id
    title: Title
    url: Url
    author: Name
    published_at: Timestamp


class ArticleRef(_Model):
    """``article.closed`` / ``article.deleted``."""

    article_id: Id
    site: Id


#: Why ingest held a new comment for a moderator: the site or article is pre-moderated, or the
#: body matched the site's banned words.
HoldReason = Literal["premoderated", "banned_word"]


class CommentPostedData(_Model):
    comment_id: Id
    article_id: Id
    site: Id
    parent_id: Id | None = None
    author: Author
    body: Body
    posted_at: Timestamp
    status: Literal["visible", "pending"] = "visible"
    #: Why a ``pending`` comment waits (shown on the moderators' desk); empty when visible.
    held_for: list[HoldReason] = Field(default_factory=list, max_length=2)

    @model_validator(mode="after")
    def _held_only_when_pending(self) -> CommentPostedData:
        if self.held_for and self.status != "pending":
            raise ValueError("held_for is only for a comment with status 'pending'")
        return self


class CommentEditedData(_Model):
    comment_id: Id
    article_id: Id
    site: Id
    body: Body
    edited_at: Timestamp


class CommentDeletedData(_Model):
    comment_id: Id
    article_id: Id
    site: Id
    deleted_by: Id
    reason: Reason | None = None


class CommentModeratedData(_Model):
    comment_id: Id
    article_id: Id
    site: Id
    status: Literal["visible", "hidden"]
    moderator: Id
    reason: Reason | None = None


#: Why a reader reports a comment (the fixed list; ``text`` may say more).
ReportReason = Literal["spam", "abuse", "off_topic", "misinformation", "other"]
REPORT_REASONS: tuple[str, ...] = get_args(ReportReason)


class CommentReportedData(_Model):
    """A reader reported a comment to the site's moderators (once per reader per comment)."""

    comment_id: Id
    article_id: Id
    site: Id
    reporter_id: Id
    reason: ReportReason
    text: Reason | None = None


class UserBannedData(_Model):
    """A moderator banned a user from writing on a site until ``until``.

    ``hide_comments``: the moderator also hid the user's visible comments; ingest publishes one
    ``comment.moderated`` (hidden) per such comment, keyed by its article as always.
    """

    user_id: Id
    site: Id
    until: Timestamp
    hide_comments: bool = False
    moderator: Id
    reason: Reason | None = None


class CommentVotedData(_Model):
    comment_id: Id
    article_id: Id
    site: Id
    voter_id: Id
    value: Literal[-1, 0, 1]


# -- the CloudEvents envelope ------------------------------------------------------------------


class _Envelope(_Model):
    specversion: Literal["1.0"] = "1.0"
    id: Annotated[str, StringConstraints(min_length=1, max_length=128)] = Field(
        default_factory=new_event_id
    )
    source: Annotated[str, StringConstraints(min_length=1, max_length=256)] = "commentfeed"
    time: Timestamp = Field(default_factory=utc_now)
    #: The article id for input events; the channel key for derived ones.
    subject: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    datacontenttype: Literal["application/json"] = "application/json"


class ArticlePublished(_Envelope):
    type: Literal["article.published"] = "article.published"
    data: ArticleData


class ArticleUpdated(_Envelope):
    type: Literal["article.updated"] = "article.updated"
    data: ArticleData


class ArticleClosed(_Envelope):
    type: Literal["article.closed"] = "article.closed"
    data: ArticleRef


class ArticleDeleted(_Envelope):
    type: Literal["article.deleted"] = "article.deleted"
    data: ArticleRef


class CommentPosted(_Envelope):
    type: Literal["comment.posted"] = "comment.posted"
    data: CommentPostedData


class CommentEdited(_Envelope):
    type: Literal["comment.edited"] = "comment.edited"
    data: CommentEditedData


class CommentDeleted(_Envelope):
    type: Literal["comment.deleted"] = "comment.deleted"
    data: CommentDeletedData


class CommentModerated(_Envelope):
    type: Literal["comment.moderated"] = "comment.moderated"
    data: CommentModeratedData


class CommentVoted(_Envelope):
    type: Literal["comment.voted"] = "comment.voted"
    data: CommentVotedData


class CommentReported(_Envelope):
    """On ``comments``, key and subject = the article id, like every comment event."""

    type: Literal["comment.reported"] = "comment.reported"
    data: CommentReportedData


class UserBanned(_Envelope):
    """On ``comments``, key and subject = :func:`site_key` of the site (``site:<site>``).

    A ``site:`` key holds a colon, which no article id can, so a consumer that keys per article
    never mistakes it for one; every ban of a site lands in one partition, in order.
    """

    type: Literal["user.banned"] = "user.banned"
    data: UserBannedData


def site_key(site: str) -> str:
    """The key (and subject) of site-scoped facts on ``comments``."""
    return f"site:{site}"


ArticleEvent: TypeAlias = Annotated[
    ArticlePublished | ArticleUpdated | ArticleClosed | ArticleDeleted,
    Field(discriminator="type"),
]
CommentEvent: TypeAlias = Annotated[
    CommentPosted | CommentEdited | CommentDeleted | CommentModerated | CommentVoted,
    Field(discriminator="type"),
]
InputEvent: TypeAlias = Annotated[
    ArticlePublished
    | ArticleUpdated
    | ArticleClosed
    | ArticleDeleted
    | CommentPosted
    | CommentEdited
    | CommentDeleted
    | CommentModerated
    | CommentVoted,
    Field(discriminator="type"),
]

#: Moderation facts on ``comments`` that are not :data:`InputEvent` (yet): consumers that fold
#: only articles and comments (today's streams worker) do not decode them.
ModerationEvent: TypeAlias = Annotated[CommentReported | UserBanned, Field(discriminator="type")]
MODERATION_EVENT_TYPES = (CommentReported, UserBanned)
#: Anything a producer may publish.
AnyInputEvent: TypeAlias = Annotated[
    ArticlePublished
    | ArticleUpdated
    | ArticleClosed
    | ArticleDeleted
    | CommentPosted
    | CommentEdited
    | CommentDeleted
    | CommentModerated
    | CommentVoted
    | CommentReported
    | UserBanned,
    Field(discriminator="type"),
]

def partition_key(event: AnyInputEvent) -> str:
    """The Kafka key (and CloudEvents subject) of an input event: its article, or for a
    site-scoped fact (``user.banned``) :func:`site_key` of its site."""
    if isinstance(event, UserBanned):
        return site_key(event.data.site)
    return event.data.article_id


ARTICLE_EVENT_TYPES = (ArticlePublished, ArticleUpdated, ArticleClosed, ArticleDeleted)
COMMENT_EVENT_TYPES = (CommentPosted, CommentEdited, CommentDeleted, CommentModerated, CommentVoted)


# -- derived: feed.updates ---------------------------------------------------------------------


class CommentView(_Model):
    """A comment as widgets show it."""

    comment_id: Id
    article_id: Id
    parent_id: Id | None
    author: Author
    body: str
    posted_at: Timestamp
    edited_at: Timestamp | None = None
    score: int = 0
    #: Depth in the thread: 0 for top level.
    depth: int = 0


class ArticleView(_Model):
    article_id: Id
    site: Id
    title: str
    url: str
    author: str
    published_at: Timestamp | None
    closed: bool = False
    deleted: bool = False


class CountPayload(_Model):
    article_id: Id
    count: int


class PresencePayload(_Model):
    """How many read an article now: its readers' connections summed over every gateway."""

    article_id: Id
    reading: Annotated[int, Field(ge=0)]


class CommentRemovedPayload(_Model):
    comment_id: Id
    article_id: Id
    #: ``deleted`` or ``hidden``.
    reason: Literal["deleted", "hidden"]


class ScorePayload(_Model):
    comment_id: Id
    article_id: Id
    score: int


class RecentItem(_Model):
    comment_id: Id
    article_id: Id
    author_name: str
    excerpt: str
    posted_at: Timestamp


class RecentPayload(_Model):
    site: Id
    items: list[RecentItem]


#: The update kinds (:data:`commentfeed.channels.UpdateKind`), under the name streams import.
FeedUpdateType = UpdateKind


class QueueItem(_Model):
    """One comment in a site's moderation queue (``moderation:<site>``)."""

    comment_id: Id
    article_id: Id
    author: Author
    #: The start of the body, as in Recent Comments.
    excerpt: str
    status: Literal["pending", "reported", "hidden"]
    #: Report reasons, and the moderation or word-filter reasons, newest last.
    reasons: list[str]
    report_count: int = 0
    posted_at: Timestamp


class QueueRemovedPayload(_Model):
    """A comment left the queue: approved (``visible``), rejected or hidden for good, deleted."""

    comment_id: Id
    article_id: Id
    status: Literal["visible", "hidden", "deleted"]


class ModerationSnapshot(_Model):
    """The snapshot of ``moderation:<site>``: the queue, oldest post first, and its figures."""

    site: Id
    queue: list[QueueItem]
    #: Pending and reported comments waiting for a decision, also those past the queue's cap.
    depth: int = 0
    #: Recently hidden comments in ``queue``.
    hidden: int = 0
    #: Waiting comments not in ``queue`` (past its cap of 200 pending or reported items).
    not_shown: int = 0
    #: Moderator decisions on pending or reported comments since the state was built.
    decisions: int = 0
    #: Time from post to decision of the latest decision, and the median of the last 100, ms.
    last_decision_ms: int | None = None
    median_decision_ms: int | None = None


class FeedUpdateItem(_Model):
    """One change to one channel.

    ``offset`` increases by one per update of the channel; ``source_time`` is the input
    event's ``time``, carried so every hop can measure end-to-end latency.
    """

    offset: int
    kind: FeedUpdateType
    payload: dict[str, Any]
    source_time: Timestamp | None = None


class FeedUpdateData(_Model):
    """Consecutive updates of one channel, in the channel's order (offsets ascending).

    The streams worker writes one record per channel per processed batch. ``epoch`` changes
    only when the channel's state was rebuilt from nothing. A replay after a crash may re-send
    updates with offsets a consumer already has, packed differently: drop those.
    """

    channel: str
    epoch: str
    updates: Annotated[list[FeedUpdateItem], Field(min_length=1)]


class FeedUpdate(_Envelope):
    """A record of ``feed.updates``: key = channel, type ``feed.updates``."""

    type: Literal["feed.updates"] = "feed.updates"
    source: Annotated[str, StringConstraints(min_length=1, max_length=256)] = "commentfeed/streams"
    data: FeedUpdateData


class FeedCountData(_Model):
    article_id: Id
    site: Id
    count: int
    #: The ``article:<id>`` channel epoch and offset this count belongs to: within one epoch,
    #: keep the highest offset; a new epoch means the state was rebuilt, so take its value.
    #: Optional for records written before the field existed.
    epoch: str | None = None
    offset: int


class FeedCount(_Envelope):
    """A record of ``feed.counts`` (latest value per article, compacted on Kafka)."""

    type: Literal["feed.count"] = "feed.count"
    source: Annotated[str, StringConstraints(min_length=1, max_length=256)] = "commentfeed/streams"
    data: FeedCountData


class GatewayPresenceData(_Model):
    """One gateway's viewers of one article, valid for ``ttl_s`` seconds after it is read."""

    #: The reporting gateway process: a random id made at each start.
    gateway: Annotated[str, StringConstraints(pattern=ID_REGEX)]
    article_id: Id
    #: Distinct websocket connections of that gateway subscribed to ``article:<id>``; 0 when
    #: the last one left (the gateway's entry is then dropped at once).
    viewers: Annotated[int, Field(ge=0)]
    #: When the gateway counted. A report already past ``at + ttl_s`` is ignored.
    at: Timestamp
    #: Without a newer report from the same gateway, its viewers count this long.
    ttl_s: Annotated[float, Field(gt=0, le=3600)]


class GatewayPresence(_Envelope):
    """A record of ``gateway.presence``: key = article id, type ``gateway.presence``."""

    type: Literal["gateway.presence"] = "gateway.presence"
    source: Annotated[str, StringConstraints(min_length=1, max_length=256)] = "commentfeed/gateway"
    data: GatewayPresenceData


# -- comments.dlq ------------------------------------------------------------------------------


class DeadLetter(BaseModel):
    """A record that could not be processed, kept with its reason and original bytes."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", json_schema_serialization_defaults_required=True
    )

    reason: str
    field: str | None = None
    detail: str
    topic: str
    partition: int
    offset: int
    key: str | None = None
    #: The original value, base64 (it may not even be UTF-8): whole when it is at most
    #: ``codec.MAX_EVENT_BYTES``, else its first ``MAX_EVENT_BYTES`` bytes, so a dead letter
    #: always fits the broker's record limit however large the poison record was.
    original_b64: str
    #: Size of the original value in bytes; ``None`` in letters written before it existed.
    original_size: int | None = None
    #: True when ``original_b64`` holds only a prefix of the original value.
    truncated: bool = False
    failed_at: Timestamp = Field(default_factory=utc_now)
