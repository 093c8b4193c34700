"""Channels: the id pattern, the channel grammar, the update kinds and the channel-update shape.

Every process names channels the same way: the streams write updates under a channel name, the
gateway subscribes clients to it, the widgets ask for it. This module is the one place that says
what a name may be; the gateway's fast parser, the streams query API, the ingest API and the
contract models take their constants from here. The widget JS restates :data:`ID_PATTERN` (a
test keeps the two equal).

Channels (docs/protocol.md "Channels"): ``article:<id>``, ``count:<id>``, ``presence:<id>``
(how many read the article now, across every gateway), ``recent`` (the deployment's default
site), ``recent:<site>`` and the private ``moderation:<site>`` (the moderation queue of a site;
the gateway serves it only to that site's moderators).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final, Literal, get_args

#: Identifiers travel in URLs, channel names and Kafka keys: a safe alphabet, bounded length.
#: Unanchored, so it can be embedded in larger patterns; :data:`ID_REGEX` is the anchored form.
ID_PATTERN: Final = r"[A-Za-z0-9_.\-]{1,64}"
ID_REGEX: Final = rf"^{ID_PATTERN}$"
ID_MAX_CHARS: Final = 64
_ID = re.compile(ID_PATTERN)

ChannelKind = Literal["article", "count", "presence", "recent", "moderation"]
CHANNEL_KINDS: Final[frozenset[str]] = frozenset(get_args(ChannelKind))
#: Kinds only an authenticated connection with the right role may read.
PRIVATE_KINDS: Final[frozenset[str]] = frozenset({"moderation"})
#: The bare ``recent`` channel: the deployment's default site.
RECENT: Final = "recent"

#: Any channel name a client may subscribe to.
CHANNEL_PATTERN: Final = (
    rf"^(article:{ID_PATTERN}|count:{ID_PATTERN}|presence:{ID_PATTERN}|recent(:{ID_PATTERN})?"
    rf"|moderation:{ID_PATTERN})$"
)
MODERATION_CHANNEL_PATTERN: Final = rf"^moderation:{ID_PATTERN}$"
ARTICLE_CHANNEL_PATTERN: Final = rf"^article:{ID_PATTERN}$"

#: What a channel update changes (``kind`` of each entry of a ``feed.updates`` record).
UpdateKind = Literal[
    "comment.added", "comment.updated", "comment.removed", "comment.score", "count", "recent",
    "article", "queue.item", "queue.removed", "presence",
]
UPDATE_KINDS: Final[frozenset[str]] = frozenset(get_args(UpdateKind))


def is_id(value: str) -> bool:
    """Whether ``value`` is a valid article, comment, user or site id."""
    return _ID.fullmatch(value) is not None


def article_channel(article_id: str) -> str:
    return f"article:{article_id}"


def count_channel(article_id: str) -> str:
    return f"count:{article_id}"


def presence_channel(article_id: str) -> str:
    return f"presence:{article_id}"


def recent_channel(site: str) -> str:
    return f"recent:{site}"


def moderation_channel(site: str) -> str:
    return f"moderation:{site}"


def is_private(name: str) -> bool:
    """Whether a checked channel name needs an authorised connection."""
    return name.partition(":")[0] in PRIVATE_KINDS


def check_channel(name: str) -> str:
    """``name`` if it is in the channel table, else :class:`ValueError`.

    On the gateway's request path: string operations and one regex match, nothing more.
    """
    if name == RECENT:
        return name
    kind, sep, key = name.partition(":")
    if not sep or kind not in CHANNEL_KINDS or _ID.fullmatch(key) is None:
        raise ValueError(f"unknown channel {name!r}")
    return name


def channel_kind(name: str) -> ChannelKind:
    """Kind of a checked channel name."""
    kind = name.partition(":")[0]
    if kind == "article":
        return "article"
    if kind == "count":
        return "count"
    if kind == "moderation":
        return "moderation"
    if kind == "presence":
        return "presence"
    return "recent"


def upstream_channel(name: str, default_site: str) -> str:
    """The channel the streams write for ``name``: ``recent`` is ``recent:<default_site>``."""
    return recent_channel(default_site) if name == RECENT else name


@dataclass(frozen=True, slots=True)
class Channel:
    """A parsed channel name."""

    kind: ChannelKind
    #: The article id, or the site for ``recent`` and ``moderation``.
    key: str
    #: The name its updates travel under (``recent`` becomes ``recent:<site>``).
    name: str


def parse_channel(name: str, default_site: str) -> Channel:
    """``name`` split into kind and key; raises :class:`ValueError` outside the table."""
    check_channel(name)
    upstream = upstream_channel(name, default_site)
    return Channel(channel_kind(upstream), upstream.partition(":")[2], upstream)


@dataclass(frozen=True, slots=True)
class ChannelUpdate:
    """One update of one channel: an entry of a ``feed.updates`` record's ``data.updates``.

    ``offset`` grows by one per update of the channel; ``epoch`` changes only when the channel's
    state was rebuilt from nothing; ``source_time`` is the input event's time (RFC 3339), carried
    for end-to-end latency. :class:`commentfeed.events.FeedUpdateData` (channel and epoch) and
    :class:`commentfeed.events.FeedUpdateItem` (the rest) are its wire schema.
    """

    channel: str
    epoch: str
    offset: int
    kind: UpdateKind
    payload: dict[str, Any]
    source_time: str | None = None
