"""The gateway's protocol state machine, sans I/O: connections, subscriptions, channels, limits.

Inputs are plain calls with the caller's monotonic ``now``: a client frame arrived
(:meth:`Core.receive`), a ``feed.updates`` record arrived (:meth:`Core.receive_update`), a
snapshot or history fetch finished. Outputs are :data:`Action` values the I/O shell carries out:
send a frame, broadcast one pre-encoded frame to many connections, close a connection, fetch a
snapshot or a history page. Connections are opaque hashable handles (the shell uses its
websocket objects), so fan-out hands the shell the very set of subscribers to broadcast to.

A channel has a live position (epoch, offset) once the gateway knows it, a snapshot at that
position while it can keep one current (see :mod:`gateway.snapshots`), and a bounded history of
encoded update frames for resume. An update is applied only if it is the next offset of the same
epoch; an older one is a replay and dropped; a gap or another epoch makes the channel resync: its
position is forgotten, updates are buffered, a fresh snapshot is fetched, and current
subscribers get it as an unsolicited ``subscribed`` frame. Snapshot fetches are coalesced: at
most one per channel in flight, however many clients wait for it.

Upstream work is bounded (issue 12): every snapshot and history fetch waits its turn in a
:class:`gateway.fetchqueue.FetchQueue` (a bound in flight for the process and per connection,
connections served round-robin), a fetch nobody waits for any more is dropped before it starts,
and a channel nobody follows costs nothing: one never fetched is forgotten at once, the others
after ``channel_idle_s`` or sooner when more than ``max_idle_channels`` are idle. A request's
bookkeeping is O(1), so churning cold channels cannot wedge the event loop; the once-a-second
sweep walks the channels held, which subscriptions and the idle cap bound.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable, Collection, Hashable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeAlias, TypeVar

from commentfeed.channels import (
    RECENT,
    ChannelKind,
    ChannelUpdate,
    channel_kind,
    is_private,
    upstream_channel,
)
from commentfeed.codec import dumps, loads
from commentfeed.tokens import AuthError, Reader
from gateway.exceptions import FrameError
from gateway.fetchqueue import SYSTEM, FetchQueue
from gateway.frames import (
    Snapshot,
    authed_frame,
    error_frame,
    history_frame,
    parse_request,
    pong_frame,
    resume_frame,
    snapshot_frame,
    unsubscribed_frame,
    update_frame,
)
from gateway.history import History as HistoryRing
from gateway.protocol import (
    Auth,
    CloseCode,
    ErrorCode,
    HistoryRequest,
    Ping,
    Position,
    RequestId,
    Subscribe,
    Unsubscribe,
)
from gateway.snapshots import fold

H = TypeVar("H", bound=Hashable)

#: Verifies a reader token: who it is and how many seconds it stays valid; raises AuthError.
Verifier: TypeAlias = Callable[[str], tuple[Reader, float]]


# -- configuration -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-connection limits; ``None`` disables one."""

    max_subscriptions: int | None = 200
    #: Token bucket: sustained requests per second and the burst allowed on top.
    ops_per_s: float | None = 20.0
    ops_burst: int = 250
    #: This many error frames within ``error_window_s`` close the connection with 4001.
    max_errors: int | None = 20
    error_window_s: float = 10.0
    #: Streams API requests one connection may have running at once; more wait their turn.
    upstream_in_flight_per_connection: int | None = 4
    #: ``history`` requests one connection may have waiting or running; more are refused.
    history_pending: int | None = 4


@dataclass(frozen=True, slots=True)
class Config:
    default_site: str = "demo"
    limits: Limits = field(default_factory=Limits)
    #: Resume history per channel: at most this many updates, each at most this old.
    history_size: int = 500
    history_ttl_s: float | None = 300.0
    #: A channel nobody subscribes to is forgotten after this long.
    channel_idle_s: float = 60.0
    #: At most this many such channels are kept; the longest idle goes first.
    max_idle_channels: int | None = 10_000
    #: Streams API requests running at once for the whole process.
    upstream_in_flight: int | None = 16
    #: Newest comments an article snapshot holds (the streams API's ``limit``).
    snapshot_comments: int = 50
    #: Updates buffered per channel while its snapshot is being fetched.
    buffer_max: int = 10_000
    #: After a failed fetch, a resyncing channel waits this long before fetching again.
    refetch_backoff_s: float = 1.0
    #: Fetches in a row that cannot be lined up with the live position before giving up.
    max_fetch_attempts: int = 3
    #: How long clients wait for the live position to reach a snapshot fetched ahead of it.
    ahead_wait_s: float = 10.0
    #: Checks ``auth`` tokens; ``None``: no secret configured, every ``auth`` is refused.
    verifier: Verifier | None = None


# -- actions for the I/O shell -----------------------------------------------------------------


@dataclass(slots=True)
class Send(Generic[H]):
    handle: H
    frame: bytes


@dataclass(slots=True)
class Broadcast(Generic[H]):
    """One encoded frame for many connections.

    ``handles`` may be the channel's live subscriber set: use it before the next core call.
    """

    handles: Collection[H]
    frame: bytes
    #: The input event's time (RFC 3339) for an update frame, for latency metrics.
    source_time: str | None = None


@dataclass(slots=True)
class Close(Generic[H]):
    handle: H
    code: CloseCode
    reason: str


@dataclass(slots=True)
class FetchSnapshot:
    channel: str
    #: The name the streams know it by (``recent`` is ``recent:<default site>`` upstream).
    upstream: str


@dataclass(slots=True)
class FetchHistory(Generic[H]):
    handle: H
    request_id: RequestId | None
    channel: str
    article_id: str
    before: str | None
    limit: int
    #: ``newest`` or ``best`` (protocol.HistoryRequest.sort).
    sort: str = "newest"


Action: TypeAlias = Send[H] | Broadcast[H] | Close[H] | FetchSnapshot | FetchHistory[H]


# -- state -------------------------------------------------------------------------------------


class _Conn(Generic[H]):
    """Per-connection state, kept tiny: tens of thousands of these live at once."""

    __slots__ = ("auth_until", "closing", "errors", "handle", "history_pending", "stamp", "subs",
                 "tokens", "user")

    def __init__(self, handle: H, tokens: float, now: float) -> None:
        self.handle = handle
        self.history_pending = 0
        self.subs: set[str] = set()
        self.tokens = tokens
        self.stamp = now
        self.errors: deque[float] | None = None  # made on the first error only
        self.closing = False
        #: Who the connection authenticated as, and until when (monotonic); None: anonymous.
        self.user: Reader | None = None
        self.auth_until = 0.0

    def may_read(self, name: str, now: float) -> bool:
        """Whether this connection may read the private channel ``name`` (``moderation:<site>``)."""
        user = self.user
        return (user is not None and now < self.auth_until
                and user.moderates(name.partition(":")[2]))


class _Channel(Generic[H]):
    __slots__ = (
        "ahead", "ahead_since", "buffer", "epoch", "fetch_attempts", "fetching", "history",
        "kind", "name", "next_fetch_at", "offset", "state", "state_bytes", "subscribers",
        "waiters",
    )

    def __init__(self, name: str, history: HistoryRing) -> None:
        self.name = name
        self.kind: ChannelKind = channel_kind(name)
        #: Live position: ``None`` until known, and again while resyncing.
        self.epoch: str | None = None
        self.offset: int | None = None
        #: Snapshot at the live position, or ``None`` when none can be served from here.
        self.state: dict[str, Any] | None = None
        self.state_bytes: bytes | None = None  # ``state`` encoded, shared by every reply
        self.history = history
        self.subscribers: set[H] = set()
        #: Connections waiting for a snapshot: handle -> (request id, since); O(1) to leave.
        self.waiters: dict[H, tuple[RequestId | None, Position | None]] = {}
        #: A snapshot fetch is running (one queued is in the core's fetch queue instead).
        self.fetching = False
        self.fetch_attempts = 0
        self.next_fetch_at = 0.0
        #: Updates held while the position is unknown and a snapshot is on its way.
        self.buffer: deque[ChannelUpdate] | None = None
        #: A fetched snapshot ahead of the live position, adopted when the position reaches it.
        self.ahead: Snapshot | None = None
        self.ahead_since = 0.0


class Core(Generic[H]):
    """The protocol state of one gateway process. Not thread-safe; call from one loop."""

    def __init__(self, config: Config | None = None) -> None:
        self.config = config or Config()
        self.connections: dict[H, _Conn[H]] = {}
        self.channels: dict[str, _Channel[H]] = {}
        self.subscription_count = 0
        self.fetches: FetchQueue[str | FetchHistory[H]] = FetchQueue(
            self.config.upstream_in_flight, self.config.limits.upstream_in_flight_per_connection)
        #: Who a running snapshot fetch is counted against, by channel.
        self._fetch_owner: dict[str, Hashable] = {}
        #: Channels nobody follows, by the time they became idle, oldest first.
        self._idle: OrderedDict[str, float] = OrderedDict()
        self._history_seq = 0
        #: Updates of this channel also feed the ``recent`` channel.
        self._recent_upstream = upstream_channel(RECENT, self.config.default_site)

    # -- connections ---------------------------------------------------------------------------

    def connect(self, handle: H, now: float) -> None:
        self.connections[handle] = _Conn(handle, float(self.config.limits.ops_burst), now)

    def disconnect(self, handle: H, now: float) -> None:
        conn = self.connections.pop(handle, None)
        if conn is None:
            return
        self.fetches.drop_owner(handle)
        for name in conn.subs:
            self._leave(name, handle, now)
        self.subscription_count -= len(conn.subs)

    def receive(self, handle: H, raw: str | bytes, now: float) -> list[Action[H]]:
        """A frame from a client: the replies and what else it sets off."""
        conn = self.connections.get(handle)
        if conn is None or conn.closing:
            return []
        try:
            request = parse_request(raw)
        except FrameError as exc:
            if not self._take_token(conn, now):
                return self._error(conn, ErrorCode.RATE_LIMITED, _RATE_MESSAGE,
                                   exc.request_id, now)
            return self._error(conn, ErrorCode(exc.code), exc.message, exc.request_id, now)
        if not self._take_token(conn, now):
            return self._error(conn, ErrorCode.RATE_LIMITED, _RATE_MESSAGE, request.id, now)
        if isinstance(request, Subscribe):
            return self._subscribe(conn, request, now)
        if isinstance(request, Unsubscribe):
            return self._unsubscribe(conn, request, now)
        if isinstance(request, HistoryRequest):
            if request.channel not in conn.subs:
                return self._error(conn, ErrorCode.NOT_SUBSCRIBED,
                                   f"subscribe to {request.channel!r} before asking its history",
                                   request.id, now)
            return self._history(conn, request, now)
        if isinstance(request, Auth):
            return self._auth(conn, request, now)
        assert isinstance(request, Ping)
        return [Send(handle, pong_frame(request.id))]

    def _auth(self, conn: _Conn[H], request: Auth, now: float) -> list[Action[H]]:
        """Log the connection in; a failed attempt leaves it anonymous."""
        verifier = self.config.verifier
        try:
            if verifier is None:
                raise AuthError("invalid_token", "this gateway accepts no tokens")
            user, ttl_s = verifier(request.token)
        except AuthError as exc:
            conn.user = None
            out = self._drop_private(conn, now)
            return out + self._error(conn, ErrorCode.BAD_TOKEN, exc.message, request.id, now)
        conn.user, conn.auth_until = user, now + ttl_s
        out = [Send(conn.handle, authed_frame(request.id, {
            "id": user.id, "name": user.name, "roles": [user.role], "site": user.site}))]
        return out + self._drop_private(conn, now)

    def _drop_private(self, conn: _Conn[H], now: float) -> list[Action[H]]:
        """End the private subscriptions the connection's identity no longer allows.

        Each ends with an unsolicited ``unsubscribed`` (no ``id``).
        """
        out: list[Action[H]] = []
        for name in [n for n in conn.subs if is_private(n) and not conn.may_read(n, now)]:
            conn.subs.discard(name)
            self.subscription_count -= 1
            self._leave(name, conn.handle, now)
            out.append(Send(conn.handle, unsubscribed_frame(name, None)))
        return out

    def _take_token(self, conn: _Conn[H], now: float) -> bool:
        limits = self.config.limits
        if limits.ops_per_s is None:
            return True
        tokens = min(float(limits.ops_burst), conn.tokens + (now - conn.stamp) * limits.ops_per_s)
        conn.stamp = now
        if tokens < 1.0:
            conn.tokens = tokens
            return False
        conn.tokens = tokens - 1.0
        return True

    def _error(self, conn: _Conn[H], code: ErrorCode, message: str, rid: RequestId | None,
               now: float) -> list[Action[H]]:
        out: list[Action[H]] = [Send(conn.handle, error_frame(code, message, rid))]
        limit = self.config.limits.max_errors
        if limit is None or code is ErrorCode.UNAVAILABLE:  # our fault, not the client's
            return out
        if conn.errors is None:
            conn.errors = deque(maxlen=limit)
        conn.errors.append(now)
        if len(conn.errors) >= limit and now - conn.errors[0] <= self.config.limits.error_window_s:
            conn.closing = True
            out.append(Close(conn.handle, CloseCode.TOO_MANY_ERRORS, "too_many_errors"))
        return out

    def _history(self, conn: _Conn[H], request: HistoryRequest, now: float) -> list[Action[H]]:
        limit = self.config.limits.history_pending
        if limit is not None and conn.history_pending >= limit:
            return self._error(conn, ErrorCode.RATE_LIMITED,
                               f"at most {limit} history requests waiting per connection",
                               request.id, now)
        conn.history_pending += 1
        self._history_seq += 1
        article_id = request.channel.partition(":")[2]
        fetch = FetchHistory(conn.handle, request.id, request.channel, article_id,
                             request.before, request.limit, request.sort)
        self.fetches.push(conn.handle, ("history", self._history_seq), fetch)
        return self._start_fetches()

    # -- subscriptions -------------------------------------------------------------------------

    def _subscribe(self, conn: _Conn[H], request: Subscribe, now: float) -> list[Action[H]]:
        name, handle = request.channel, conn.handle
        if is_private(name) and not conn.may_read(name, now):
            return self._error(conn, ErrorCode.FORBIDDEN,
                               f"{name!r} is for moderators of its site: send 'auth' with a "
                               "moderator token first", request.id, now)
        limit = self.config.limits.max_subscriptions
        if name not in conn.subs:
            if limit is not None and len(conn.subs) >= limit:
                return self._error(conn, ErrorCode.TOO_MANY_SUBSCRIPTIONS,
                                   f"at most {limit} subscriptions per connection",
                                   request.id, now)
            conn.subs.add(name)
            self.subscription_count += 1
        ch = self.channels.get(name)
        if ch is None:
            ch = self.channels[name] = _Channel(
                name, HistoryRing(self.config.history_size, self.config.history_ttl_s))
        # A repeated subscribe restarts this connection's view of the channel.
        ch.subscribers.discard(handle)
        ch.waiters.pop(handle, None)
        self._idle.pop(name, None)
        if ch.offset is not None and ch.epoch is not None:
            if request.since is not None:
                missed = self._missed(ch, request.since, now)
                if missed is not None:
                    ch.subscribers.add(handle)
                    return [Send(handle, resume_frame(name, request.id, ch.epoch, ch.offset,
                                                      missed))]
            if ch.state is not None:
                ch.subscribers.add(handle)
                return [Send(handle, snapshot_frame(name, request.id, ch.epoch, ch.offset,
                                                    self._state_bytes(ch)))]
        ch.waiters[handle] = (request.id, request.since)
        return self._fetch(ch, handle)

    def _unsubscribe(self, conn: _Conn[H], request: Unsubscribe, now: float) -> list[Action[H]]:
        if request.channel in conn.subs:
            conn.subs.discard(request.channel)
            self.subscription_count -= 1
            self._leave(request.channel, conn.handle, now)
        return [Send(conn.handle, unsubscribed_frame(request.channel, request.id))]

    def _leave(self, name: str, handle: H, now: float) -> None:
        ch = self.channels.get(name)
        if ch is None:
            return
        ch.subscribers.discard(handle)
        if ch.waiters.pop(handle, None) is not None:
            self.fetches.discard(handle, name)
        if not ch.subscribers and not ch.waiters:
            self._unwanted(ch, now)

    def _unwanted(self, ch: _Channel[H], now: float) -> None:
        """Nobody follows ``ch`` any more: forget it, now or after a while."""
        if ch.fetching:
            return  # decided when the fetch ends
        if ch.state is None and not len(ch.history):
            # Nothing a returning client could reuse: keeping it would only cost memory.
            del self.channels[ch.name]
            self._idle.pop(ch.name, None)
            return
        self._idle[ch.name] = now
        self._idle.move_to_end(ch.name)
        cap = self.config.max_idle_channels
        if cap is not None and len(self._idle) > cap:
            oldest, _ = self._idle.popitem(last=False)
            del self.channels[oldest]

    def _missed(self, ch: _Channel[H], since: Position, now: float) -> list[bytes] | None:
        """Every update frame after ``since``, or ``None``: the resume decision."""
        if since.epoch != ch.epoch or ch.offset is None:
            return None
        return ch.history.after(since.offset, ch.offset, now)

    def _state_bytes(self, ch: _Channel[H]) -> bytes:
        if ch.state_bytes is None:
            ch.state_bytes = dumps(ch.state)
        return ch.state_bytes

    def _set_state(self, ch: _Channel[H], state: dict[str, Any] | None) -> None:
        ch.state = state
        ch.state_bytes = None

    def _fetch(self, ch: _Channel[H], owner: Hashable) -> list[Action[H]]:
        """Queue a snapshot fetch of ``ch`` on ``owner``'s account (coalesced when running)."""
        if ch.fetching:
            return []
        self.fetches.push(owner, ch.name, ch.name)
        return self._start_fetches()

    def _start_fetches(self) -> list[Action[H]]:
        """Every queued fetch that may start now and is still wanted."""
        out: list[Action[H]] = []
        fetches = self.fetches
        while (taken := fetches.take()) is not None:
            owner, job = taken
            if isinstance(job, FetchHistory):
                if job.handle in self.connections:
                    out.append(job)
                else:
                    fetches.done(owner)
                continue
            ch = self.channels.get(job)
            # Skipped: forgotten, already running for someone else, or nobody waits any more.
            if ch is None or ch.fetching or not (
                    ch.waiters or (ch.offset is None and ch.subscribers)):
                fetches.done(owner)
                continue
            ch.fetching = True
            self._fetch_owner[job] = owner
            out.append(FetchSnapshot(job, upstream_channel(job, self.config.default_site)))
        return out

    def _fetch_ended(self, name: str, now: float) -> None:
        owner = self._fetch_owner.pop(name, None)
        if owner is not None:
            self.fetches.done(owner)

    # -- updates -------------------------------------------------------------------------------

    def article_viewers(self) -> dict[str, int]:
        """Distinct connections subscribed to each ``article:`` channel (those still waiting for
        its snapshot included): what ``gateway.presence`` reports. One walk of the channels."""
        return {ch.name[8:]: len(ch.subscribers) + len(ch.waiters)
                for ch in self.channels.values()
                if ch.kind == "article" and (ch.subscribers or ch.waiters)}

    def tracks(self, channel: str) -> bool:
        """Whether updates of ``channel`` matter here (others are skipped undecoded)."""
        return channel in self.channels or (
            channel == self._recent_upstream and RECENT in self.channels)

    def receive_update(self, update: ChannelUpdate, now: float) -> list[Action[H]]:
        """An update from ``feed.updates``: usually one broadcast to the channel's subscribers."""
        ch = self.channels.get(update.channel)
        out = self._apply(ch, update, now, copy=False) if ch is not None else []
        if update.channel == self._recent_upstream:
            alias = self.channels.get(RECENT)
            if alias is not None:
                out = out + self._apply(alias, update, now, copy=False)
        return out

    def _apply(self, ch: _Channel[H], update: ChannelUpdate, now: float, *,
               copy: bool) -> list[Action[H]]:
        if ch.offset is None:
            return self._hold(ch, update, now)
        if update.epoch != ch.epoch or update.offset > ch.offset + 1:
            return self._resync(ch, update, now)
        if update.offset <= ch.offset:
            return []  # a replay: already applied
        frame = update_frame(ch.name, update.epoch, update.offset, update.kind, update.payload)
        ch.offset = update.offset
        if ch.state is not None:
            self._set_state(ch, fold(ch.kind, ch.state, update, self.config.snapshot_comments))
        ch.history.append(update.offset, now, frame)
        out: list[Action[H]] = []
        if ch.subscribers:
            handles = tuple(ch.subscribers) if copy or ch.ahead is not None else ch.subscribers
            out.append(Broadcast(handles, frame, update.source_time))
        if ch.ahead is not None and ch.ahead.offset == ch.offset:
            self._set_state(ch, ch.ahead.state)
            ch.ahead = None
            ch.fetch_attempts = 0
            out.extend(self._answer_waiters(ch, now))
        return out

    def _hold(self, ch: _Channel[H], update: ChannelUpdate, now: float) -> list[Action[H]]:
        """Buffer an update while the channel's position is unknown."""
        out: list[Action[H]] = []
        if not ch.fetching:
            if not ch.subscribers or now < ch.next_fetch_at:
                return out  # the next fetch's snapshot covers this update
            out = self._fetch(ch, SYSTEM)
        if ch.buffer is None:
            # Dropping the oldest on overflow is safe: the gap shows when the buffer drains.
            ch.buffer = deque(maxlen=self.config.buffer_max)
        ch.buffer.append(update)
        return out

    def _resync(self, ch: _Channel[H], update: ChannelUpdate, now: float) -> list[Action[H]]:
        ch.epoch = ch.offset = None
        self._set_state(ch, None)
        ch.ahead = None
        ch.history.clear()
        ch.buffer = None
        ch.next_fetch_at = 0.0
        return self._hold(ch, update, now)

    # -- snapshots -----------------------------------------------------------------------------

    def snapshot_fetched(self, channel: str, snap: Snapshot, now: float) -> list[Action[H]]:
        """A snapshot from the streams API arrived for ``channel``."""
        self._fetch_ended(channel, now)
        ch = self.channels.get(channel)
        out = self._snapshot_fetched(ch, snap, now) if ch is not None and ch.fetching else []
        return self._after_fetch(ch, now, out)

    def _after_fetch(self, ch: _Channel[H] | None, now: float,
                     out: list[Action[H]]) -> list[Action[H]]:
        if ch is not None and not ch.fetching and not ch.subscribers and not ch.waiters:
            self._unwanted(ch, now)
        return out + self._start_fetches()

    def _snapshot_fetched(self, ch: _Channel[H], snap: Snapshot, now: float) -> list[Action[H]]:
        ch.fetching = False
        if ch.offset is not None and snap.epoch == ch.epoch:
            if snap.offset == ch.offset:
                self._set_state(ch, snap.state)
                ch.fetch_attempts = 0
                return self._answer_waiters(ch, now)
            if snap.offset > ch.offset:
                # The streams are a little ahead of what this gateway consumed so far.
                ch.ahead, ch.ahead_since = snap, now
                return []
            state = self._roll_forward(ch, snap, now)
            if state is not None:
                self._set_state(ch, state)
                ch.fetch_attempts = 0
                return self._answer_waiters(ch, now)
            return self._refetch(ch, now)
        # Cold, resyncing, or a new epoch: the snapshot sets the channel's position.
        notify = tuple(ch.subscribers)
        ch.epoch, ch.offset = snap.epoch, snap.offset
        self._set_state(ch, snap.state)
        ch.history.clear()
        ch.ahead = None
        ch.fetch_attempts = 0
        out: list[Action[H]] = []
        if notify:
            frame = snapshot_frame(ch.name, None, snap.epoch, snap.offset, self._state_bytes(ch))
            out.append(Broadcast(notify, frame))
        out.extend(self._answer_waiters(ch, now))
        held, ch.buffer = ch.buffer, None
        for update in held or ():
            out.extend(self._apply(ch, update, now, copy=True))
        return out

    def snapshot_failed(self, channel: str, now: float) -> list[Action[H]]:
        """The snapshot fetch for ``channel`` failed: waiting clients get ``unavailable``."""
        self._fetch_ended(channel, now)
        ch = self.channels.get(channel)
        if ch is None or not ch.fetching:
            return self._after_fetch(ch, now, [])
        ch.fetching = False
        ch.fetch_attempts = 0
        ch.next_fetch_at = now + self.config.refetch_backoff_s
        ch.buffer = None
        return self._after_fetch(ch, now, self._fail_waiters(ch, now))

    def _fail_waiters(self, ch: _Channel[H], now: float) -> list[Action[H]]:
        waiters, ch.waiters = ch.waiters, {}
        out: list[Action[H]] = []
        for handle, (rid, _) in waiters.items():
            self.fetches.discard(handle, ch.name)
            conn = self.connections.get(handle)
            if conn is None or ch.name not in conn.subs:
                continue
            conn.subs.discard(ch.name)
            self.subscription_count -= 1
            out.extend(self._error(conn, ErrorCode.UNAVAILABLE,
                                   f"no snapshot of {ch.name!r} right now; retry later", rid, now))
        return out

    def _refetch(self, ch: _Channel[H], now: float) -> list[Action[H]]:
        ch.fetch_attempts += 1
        if ch.fetch_attempts >= self.config.max_fetch_attempts:
            ch.fetch_attempts = 0
            return self._fail_waiters(ch, now)
        return self._fetch(ch, SYSTEM)

    def _roll_forward(self, ch: _Channel[H], snap: Snapshot,
                      now: float) -> dict[str, Any] | None:
        """A snapshot older than the live position, brought up to it from the history."""
        assert ch.offset is not None
        frames = ch.history.after(snap.offset, ch.offset, now)
        if frames is None:
            return None
        state = snap.state
        for frame in frames:
            doc = loads(frame)
            update = ChannelUpdate(ch.name, doc["epoch"], doc["offset"], doc["type"], doc["data"])
            folded = fold(ch.kind, state, update, self.config.snapshot_comments)
            if folded is None:
                return None
            state = folded
        return state

    def _answer_waiters(self, ch: _Channel[H], now: float) -> list[Action[H]]:
        assert ch.epoch is not None
        assert ch.offset is not None
        waiters, ch.waiters = ch.waiters, {}
        out: list[Action[H]] = []
        for handle, (rid, since) in waiters.items():
            self.fetches.discard(handle, ch.name)
            missed = self._missed(ch, since, now) if since is not None else None
            if missed is not None:
                frame = resume_frame(ch.name, rid, ch.epoch, ch.offset, missed)
            else:
                frame = snapshot_frame(ch.name, rid, ch.epoch, ch.offset, self._state_bytes(ch))
            out.append(Send(handle, frame))
            ch.subscribers.add(handle)
        return out

    def _expire_private(self, ch: _Channel[H], now: float) -> list[Action[H]]:
        """Subscribers of a private channel whose token expired lose it."""
        out: list[Action[H]] = []
        for handle in [*ch.subscribers, *ch.waiters]:
            conn = self.connections.get(handle)
            if conn is not None and not conn.may_read(ch.name, now):
                out.extend(self._drop_private(conn, now))
        return out

    # -- history pages -------------------------------------------------------------------------

    def _history_ended(self, request: FetchHistory[H]) -> _Conn[H] | None:
        self.fetches.done(request.handle)
        conn = self.connections.get(request.handle)
        if conn is not None:
            conn.history_pending -= 1
        return conn

    def history_fetched(self, request: FetchHistory[H], comments: list[Any],
                        cursor: str | None, floor: int | None = None) -> list[Action[H]]:
        out: list[Action[H]] = []
        if self._history_ended(request) is not None:
            out.append(Send(request.handle, history_frame(
                request.channel, request.request_id, comments, cursor, sort=request.sort,
                floor=floor)))
        return out + self._start_fetches()

    def history_failed(self, request: FetchHistory[H], now: float, *,
                       refused: bool = False) -> list[Action[H]]:
        """The page could not be had; ``refused``: the streams API said the request was bad
        (a cursor the client made up), which counts toward the client's error budget."""
        conn = self._history_ended(request)
        out: list[Action[H]] = []
        if conn is not None and refused:
            out = self._error(conn, ErrorCode.BAD_REQUEST,
                              f"the history of {request.channel!r} before that cursor does "
                              "not exist; use a cursor the gateway sent", request.request_id,
                              now)
        elif conn is not None:
            out = self._error(conn, ErrorCode.UNAVAILABLE,
                              f"no history of {request.channel!r} right now; retry later",
                              request.request_id, now)
        return out + self._start_fetches()

    # -- housekeeping --------------------------------------------------------------------------

    def sweep(self, now: float) -> list[Action[H]]:
        """Periodic upkeep: expire history, retry resyncs, forget idle channels."""
        out: list[Action[H]] = []
        idle, idle_s = self._idle, self.config.channel_idle_s
        while idle:
            name, since = next(iter(idle.items()))
            if now - since < idle_s:
                break
            del idle[name]
            del self.channels[name]
        for ch in list(self.channels.values()):
            ch.history.expire(now)
            if ch.kind == "moderation":
                out.extend(self._expire_private(ch, now))
            if ch.subscribers or ch.waiters:
                if ch.ahead is not None and now - ch.ahead_since > self.config.ahead_wait_s:
                    ch.ahead = None
                    out.extend(self._fail_waiters(ch, now))
                if (ch.offset is None and ch.subscribers and not ch.fetching
                        and now >= ch.next_fetch_at):
                    out.extend(self._fetch(ch, SYSTEM))
            elif not ch.fetching and ch.name not in idle:
                self._unwanted(ch, now)  # its last waiter was failed above
        return out


_RATE_MESSAGE = "over the request rate; the request was dropped"
