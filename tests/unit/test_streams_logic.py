"""The streams fold, with plain calls: semantics, duplicates, and replays after a simulated crash.

The property tests compare the fold with a plain recount from the set of surviving events, and
model ``kill -9`` the way Faust fails: the changelog keeps a prefix of the writes, feed updates
of the last events may be lost (never those of an event whose successor's writes survived),
the input is replayed from the last committed offset.
"""

from __future__ import annotations

import base64
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commentfeed import codec
from commentfeed.channels import ChannelUpdate
from commentfeed.demo_data import LEAD_ARTICLE_ID, demo_events
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
    CommentView,
    CommentVoted,
    CommentVotedData,
    InputEvent,
    RecentItem,
)
from gateway.snapshots import fold as hot_fold
from streams import queries
from streams.fold import (
    MAX_PARKED,
    MAX_PARKED_ARTICLES,
    MAX_VOTES_PER_VOTER,
    PARK_GRACE,
    TOP_COMMENTS,
    UNRANKED_FLOOR,
    CountChanged,
    Emit,
    Failed,
    RecentFact,
    Rejected,
    channel_epoch,
    excerpt,
    fold_batch,
    sweep_parked,
)
from streams.recent import KEEP_RECENT, SiteOutcome, fold_facts
from streams.shapes import (
    ARTICLES,
    COMMENTS,
    FACTS,
    Position,
    Record,
    article_key,
    comment_key,
    fields,
    park_key,
    parked_key,
    site_key,
)

NS = "unit"
SITE = "demo"
T0 = datetime(2026, 3, 14, 9, 0, tzinfo=UTC)


# -- event builders ----------------------------------------------------------------------------


def published(aid: str, title: str = "A title", eid: str | None = None) -> ArticlePublished:
    return ArticlePublished(id=eid or f"pub-{aid}", subject=aid, time=T0, data=ArticleData(
        article_id=aid, site=SITE, title=title, url=f"https://news.example/{aid}",
        author="Ed", published_at=T0))


def posted(aid: str, cid: str, *, parent: str | None = None, status: str = "visible",
           body: str = "hello there", minute: int = 0, eid: str | None = None) -> CommentPosted:
    at = T0 + timedelta(minutes=minute)
    return CommentPosted(id=eid or f"post-{aid}-{cid}", subject=aid, time=at,
                         data=CommentPostedData(
                             comment_id=cid, article_id=aid, site=SITE, parent_id=parent,
                             author=Author(id="u-1", name=f"Reader {cid}"), body=body,
                             posted_at=at, status=status))


def edited(aid: str, cid: str, body: str, minute: int, eid: str) -> CommentEdited:
    return CommentEdited(id=eid, subject=aid, time=T0, data=CommentEditedData(
        comment_id=cid, article_id=aid, site=SITE, body=body,
        edited_at=T0 + timedelta(minutes=minute)))


def deleted(aid: str, cid: str, eid: str) -> CommentDeleted:
    return CommentDeleted(id=eid, subject=aid, time=T0, data=CommentDeletedData(
        comment_id=cid, article_id=aid, site=SITE, deleted_by="u-1"))


def moderated(aid: str, cid: str, status: str, eid: str) -> CommentModerated:
    return CommentModerated(id=eid, subject=aid, time=T0, data=CommentModeratedData(
        comment_id=cid, article_id=aid, site=SITE, status=status,
        moderator="mod-1"))


def voted(aid: str, cid: str, voter: str, value: int, eid: str) -> CommentVoted:
    return CommentVoted(id=eid, subject=aid, time=T0, data=CommentVotedData(
        comment_id=cid, article_id=aid, site=SITE, voter_id=voter,
        value=value))


def closed_event(aid: str) -> ArticleClosed:
    return ArticleClosed(id=f"close-{aid}", subject=aid, data=ArticleRef(article_id=aid, site=SITE))


# -- a tiny single-partition worker ------------------------------------------------------------


@dataclass
class Outcome:
    #: Every partition's writes of the batch, in order (batch marks included; ``None``
    #: deletes).
    writes: dict[str, Record | None]
    emits: list[Emit]


@dataclass
class Sim:
    """Processes batches of (event, position) like one worker owning the partitions."""

    store: dict[str, Record] = field(default_factory=dict)
    #: Per processed batch: its changelog writes and its emits, in the order they were made.
    per_event: list[tuple[list[tuple[str, Record | None]], list[Emit]]] = field(
        default_factory=list)

    def feed(self, event: InputEvent, pos: Position) -> Outcome:
        return self.feed_batch([(event, pos)])

    def feed_batch(self, batch: list[tuple[InputEvent, Position]]) -> Outcome:
        out = fold_batch([(e, p, codec.encode(e)) for e, p in batch], self.store.get,
                         namespace=NS)
        writes = {k: v for part in out.writes.values() for k, v in part.items()}
        apply(self.store, writes.items())
        emits: list[Emit] = []
        for _, made in out.emits:
            assert not isinstance(made, Failed), made
            emits += made
        self.per_event.append((list(writes.items()), emits))
        return Outcome(writes, emits)

    def updates(self) -> list[ChannelUpdate]:
        return [e for _, emits in self.per_event for e in emits if isinstance(e, ChannelUpdate)]


def apply(store: dict[str, Record], writes: Iterable[tuple[str, Record | None]]) -> None:
    for key, value in writes:
        if value is None:
            store.pop(key, None)
        else:
            store[key] = value


#: Records of the simulated partition arrive this far apart (the parking clock).
ARRIVAL_STEP_MS = 10_000


def positioned(events: list[InputEvent]) -> list[tuple[InputEvent, Position]]:
    """Give each event the next offset of its input topic and an arrival time."""
    next_offset = {ARTICLES: 0, COMMENTS: 0}
    out = []
    for n, event in enumerate(events):
        topic = ARTICLES if event.type.startswith("article.") else COMMENTS
        out.append((event, Position(topic, next_offset[topic], 0, n * ARRIVAL_STEP_MS)))
        next_offset[topic] += 1
    return out


def run(events: list[InputEvent]) -> Sim:
    sim = Sim()
    for event, pos in positioned(events):
        sim.feed(event, pos)
    return sim


def by_channel(updates: list[ChannelUpdate]) -> dict[str, list[ChannelUpdate]]:
    out: dict[str, list[ChannelUpdate]] = defaultdict(list)
    for u in updates:
        out[u.channel].append(u)
    return out


# -- plain semantics ---------------------------------------------------------------------------


def test_demo_thread_counts_four_with_depths_and_parents() -> None:
    sim = run(demo_events())
    lead = sim.store[article_key(LEAD_ARTICLE_ID)]
    assert lead["count"] == 4
    epoch, offset, snap = queries.article_snapshot(
        LEAD_ARTICLE_ID, sim.store.get, limit=50, namespace=NS)
    assert (epoch, offset) == (lead["ea"], lead["oa"])
    thread = [(c["comment_id"], c["parent_id"], c["depth"]) for c in snap["comments"]]
    assert thread == [("c-1001", None, 0), ("c-1002", "c-1001", 1), ("c-1003", "c-1002", 2),
                      ("c-1004", None, 0)]
    assert snap["count"] == 4
    assert snap["cursor"] is None
    assert snap["article"]["title"].startswith("Harbour Bridge Reopens")
    for c in snap["comments"]:
        CommentView.model_validate(c)


def test_a_visible_post_emits_added_then_both_counts_then_a_recent_fact() -> None:
    sim = run([published("a1")])
    out = sim.feed(posted("a1", "c1"), Position(COMMENTS, 0))
    kinds = [(e.channel, e.kind, e.offset) if isinstance(e, ChannelUpdate) else type(e).__name__
             for e in out.emits]
    assert kinds == [("article:a1", "comment.added", 2), ("article:a1", "count", 3),
                     ("count:a1", "count", 1), "CountChanged", "RecentFact"]
    count = next(e for e in out.emits if isinstance(e, CountChanged))
    assert (count.count, count.offset, count.site) == (1, 3, SITE)
    first = out.emits[0]
    assert isinstance(first, ChannelUpdate)
    assert first.epoch == channel_epoch(NS, "article:a1")
    assert first.source_time == "2026-03-14T09:00:00Z"


def test_pending_posts_count_only_once_approved_and_hidden_ones_leave() -> None:
    sim = run([published("a1")])
    pending = sim.feed(posted("a1", "c1", status="pending"), Position(COMMENTS, 0)).emits
    # Nothing for readers: only the site's moderation queue hears of it.
    assert [type(e).__name__ for e in pending] == ["QueueFact"]
    assert sim.store[article_key("a1")]["count"] == 0
    approve = sim.feed(moderated("a1", "c1", "visible", "m1"), Position(COMMENTS, 1))
    assert [e.kind for e in approve.emits if isinstance(e, ChannelUpdate)] == [
        "comment.added", "count", "count"]
    assert sim.store[article_key("a1")]["count"] == 1
    hide = sim.feed(moderated("a1", "c1", "hidden", "m2"), Position(COMMENTS, 2))
    removed = hide.emits[0]
    assert isinstance(removed, ChannelUpdate)
    assert removed.kind == "comment.removed"
    assert removed.payload == {"comment_id": "c1", "article_id": "a1", "reason": "hidden"}
    assert sim.store[article_key("a1")]["count"] == 0


def test_edit_delete_and_vote_emit_the_right_updates() -> None:
    sim = run([published("a1"), posted("a1", "c1")])
    edit = sim.feed(edited("a1", "c1", "better words", 5, "e1"), Position(COMMENTS, 1))
    update = edit.emits[0]
    assert isinstance(update, ChannelUpdate)
    assert update.kind == "comment.updated"
    assert update.payload["body"] == "better words"
    assert update.payload["edited_at"] == "2026-03-14T09:05:00Z"
    assert update.offset == 4
    vote = sim.feed(voted("a1", "c1", "u9", 1, "v1"), Position(COMMENTS, 2))
    assert [(e.kind, e.payload, e.offset) for e in vote.emits if isinstance(e, ChannelUpdate)] == [
        ("comment.score", {"comment_id": "c1", "article_id": "a1", "score": 1}, 5)]
    withdraw = sim.feed(voted("a1", "c1", "u9", 0, "v2"), Position(COMMENTS, 3))
    assert [e.payload["score"] for e in withdraw.emits if isinstance(e, ChannelUpdate)] == [0]
    gone = sim.feed(deleted("a1", "c1", "d1"), Position(COMMENTS, 4))
    assert [(e.channel, e.kind, e.offset) for e in gone.emits if isinstance(e, ChannelUpdate)] == [
        ("article:a1", "comment.removed", 7), ("article:a1", "count", 8), ("count:a1", "count", 2)]
    # After the delete nothing about the comment changes any more.
    assert sim.feed(voted("a1", "c1", "u8", 1, "v3"), Position(COMMENTS, 5)).emits == []
    assert sim.feed(moderated("a1", "c1", "visible", "m1"), Position(COMMENTS, 6)).emits == []


def test_edits_apply_in_log_order_whatever_their_clocks_say() -> None:
    sim = run([published("a1"), posted("a1", "c1")])
    sim.feed(edited("a1", "c1", "made at 09:10", 10, "e1"), Position(COMMENTS, 1))
    # Made later through an ingest process whose clock is behind.
    late = sim.feed(edited("a1", "c1", "made after it", 5, "e2"), Position(COMMENTS, 2))
    assert [(u.kind, u.payload["body"]) for u in late.emits if isinstance(u, ChannelUpdate)] == [
        ("comment.updated", "made after it")]
    assert sim.store[comment_key("a1", "c1")]["body"] == "made after it"
    # The same edit delivered again is still a duplicate.
    assert sim.feed(edited("a1", "c1", "made at 09:10", 10, "e1"),
                    Position(COMMENTS, 3)).emits == []


def test_duplicates_by_event_id_or_comment_id_change_nothing() -> None:
    sim = run([published("a1"), posted("a1", "c1"), voted("a1", "c1", "u1", 1, "v1"),
               voted("a1", "c1", "u1", -1, "v2")])
    before = dict(sim.store)
    assert sim.feed(voted("a1", "c1", "u1", 1, "v1"), Position(COMMENTS, 9)).writes == {}
    assert sim.feed(posted("a1", "c1", eid="another-id", body="other"),
                    Position(COMMENTS, 10)).emits == []
    assert sim.feed(published("a1"), Position(ARTICLES, 5)).emits == []
    assert sim.store == before
    assert sim.store[comment_key("a1", "c1")]["score"] == -1


def test_an_event_that_changed_nothing_changes_nothing_when_delivered_again() -> None:
    sim = run([published("a1"), posted("a1", "c1")])
    same_vote = voted("a1", "c1", "u1", 0, "v0")
    same_status = moderated("a1", "c1", "visible", "m0")
    sim.feed(same_vote, Position(COMMENTS, 1))  # no vote yet: value 0 changes nothing
    sim.feed(same_status, Position(COMMENTS, 2))  # already visible
    sim.feed(voted("a1", "c1", "u1", 1, "v1"), Position(COMMENTS, 3))
    sim.feed(moderated("a1", "c1", "hidden", "m1"), Position(COMMENTS, 4))
    assert sim.feed(same_vote, Position(COMMENTS, 5)).emits == []
    assert sim.feed(same_status, Position(COMMENTS, 6)).emits == []
    c = sim.store[comment_key("a1", "c1")]
    assert (c["score"], c["status"]) == (1, "hidden")


def test_an_article_deletion_deletes_its_comments_everywhere() -> None:
    sim = run([published("a1"), posted("a1", "c1"), posted("a1", "c2", status="pending"),
               posted("a1", "c3", parent="c1")])
    gone = sim.feed(ArticleDeleted(id="drop-a1", subject="a1", data=ArticleRef(
        article_id="a1", site=SITE)), Position(ARTICLES, 1))
    assert [(u.channel, u.kind, u.payload.get("comment_id"), u.payload.get("count"))
            for u in gone.emits if isinstance(u, ChannelUpdate)] == [
        ("article:a1", "article", None, None), ("article:a1", "comment.removed", "c3", None),
        ("article:a1", "comment.removed", "c1", None), ("article:a1", "count", None, 0),
        ("count:a1", "count", None, 0)]
    assert [(f.fact["op"], f.fact["comment_id"]) for f in gone.emits
            if isinstance(f, RecentFact)] == [("remove", "c3"), ("remove", "c1")]
    _, _, snap = queries.article_snapshot("a1", sim.store.get, limit=50, namespace=NS)
    assert (snap["count"], snap["comments"]) == (0, [])
    assert queries.history("a1", sim.store.get, before=None, limit=50)["comments"] == []
    assert {sim.store[comment_key("a1", c)]["status"] for c in ("c1", "c2", "c3")} == {"deleted"}
    # The pending one cannot come back by moderation.
    assert sim.feed(moderated("a1", "c2", "visible", "m1"), Position(COMMENTS, 9)).emits == []


def test_bad_references_are_rejected_with_a_reason() -> None:
    sim = run([published("a1"), posted("a1", "c1")])
    cases: list[tuple[InputEvent, str]] = [
        (posted("a1", "c2", parent="nope"), "unknown_parent"),
        (voted("a1", "nope", "u1", 1, "v1"), "unknown_comment"),
        (edited("a1", "nope", "x", 1, "e1"), "unknown_comment"),
    ]
    for n, (event, reason) in enumerate(cases):
        out = sim.feed(event, Position(COMMENTS, 10 + n))
        assert out.writes == {}
        assert [(type(e), getattr(e, "reason", None)) for e in out.emits] == [(Rejected, reason)]
    closed = closed_event("a1")
    article_update = sim.feed(closed, Position(ARTICLES, 1)).emits[0]
    assert isinstance(article_update, ChannelUpdate)
    assert article_update.payload["closed"] is True
    late = sim.feed(posted("a1", "c3"), Position(COMMENTS, 20)).emits
    assert [getattr(e, "reason", None) for e in late] == ["article_closed"]


def test_comments_read_before_their_article_wait_for_it() -> None:
    sim = Sim()
    assert sim.feed(posted("a1", "c1"), Position(COMMENTS, 0)).emits == []
    assert sim.feed(posted("a1", "c2", parent="c1"), Position(COMMENTS, 1)).emits == []
    _, offset, snap = queries.article_snapshot("a1", sim.store.get, limit=50, namespace=NS)
    assert (offset, snap["article"], snap["count"]) == (0, None, 0)
    out = sim.feed(published("a1"), Position(ARTICLES, 0))
    assert [(e.kind, e.offset) for e in out.emits if isinstance(e, ChannelUpdate)
            and e.channel == "article:a1"] == [
        ("article", 1), ("comment.added", 2), ("count", 3), ("comment.added", 4), ("count", 5)]
    assert sim.store[article_key("a1")]["count"] == 2
    assert sim.store[article_key("a1")]["parked"] == []
    facts = [e.fact for e in out.emits if isinstance(e, RecentFact)]
    assert [f["version"] for f in facts] == [0, 1]  # the comments' own offsets


def test_comments_for_an_article_that_never_comes_go_to_the_dlq_after_the_grace() -> None:
    sim = run([published("a1")])
    raw = codec.encode(posted("ghost", "c1", minute=0))
    sim.feed(posted("ghost", "c1"), Position(COMMENTS, 7, 0, 1_000))
    at_grace = 1_000 + PARK_GRACE // timedelta(milliseconds=1)
    not_yet = sim.feed(posted("a1", "c8"), Position(COMMENTS, 8, 0, at_grace)).emits
    assert not any(isinstance(e, Rejected) for e in not_yet)
    later = sim.feed(posted("a1", "c9"), Position(COMMENTS, 9, 0, at_grace + 1))
    rejected = [e for e in later.emits if isinstance(e, Rejected)]
    assert [(r.reason, r.offset, r.key) for r in rejected] == [("unknown_article", 7, "ghost")]
    assert rejected[0].raw_b64 is not None
    assert codec.decode_input(base64.b64decode(rejected[0].raw_b64)) == codec.decode_input(raw)
    assert sim.store[article_key("a1")]["count"] == 2
    assert sim.store[article_key("ghost")]["parked"] == []


#: The broker's record limit (and aiokafka's max_request_size), which no state record may reach.
RECORD_LIMIT = 1024 * 1024


def test_parked_comments_are_records_of_their_own_and_none_grows_past_the_limit() -> None:
    sim = run([published("a1")])
    body = "\U0001F600" * 5_000  # 20 KB of UTF-8, the longest body allowed
    for n in range(MAX_PARKED + 1):
        out = sim.feed(posted("ghost", f"c{n}", body=body), Position(COMMENTS, n, 0, 1_000 + n))
        for key, value in out.writes.items():
            assert len(codec.dumps(value)) < 2 * codec.MAX_EVENT_BYTES, key
    # The article record lists offsets only; each comment's bytes are in its own record.
    assert len(sim.store[article_key("ghost")]["parked"]) == MAX_PARKED
    assert sum(1 for k in sim.store if k.startswith("p/ghost/")) == MAX_PARKED
    # One more than the bound is refused at once, as itself (so under its own article's key).
    assert [(type(e), e.reason, e.offset) for e in out.emits
            if isinstance(e, Rejected)] == [(Rejected, "unknown_article", None)]


def test_articles_waiting_per_partition_are_bounded() -> None:
    sim = Sim()
    for n in range(MAX_PARKED_ARTICLES):
        assert sim.feed(posted(f"ghost{n}", "c1"), Position(COMMENTS, n, 0, 1_000)).emits == []
    over = sim.feed(posted("one-more", "c1"), Position(COMMENTS, MAX_PARKED_ARTICLES, 0, 1_000))
    assert [getattr(e, "reason", None) for e in over.emits] == ["unknown_article"]
    index = sim.store[park_key(0)]
    assert len(index["articles"]) == MAX_PARKED_ARTICLES
    assert len(codec.dumps(index)) < RECORD_LIMIT // 4


def test_the_sweep_expires_parked_comments_of_an_idle_partition_under_their_own_key() -> None:
    sim = run([published("a1")])
    raw = codec.encode(posted("ghost", "c1"))
    sim.feed(posted("ghost", "c1"), Position(COMMENTS, 7, 0, 1_000))
    sim.feed(posted("ghost", "c2"), Position(COMMENTS, 8, 0, 2_000))
    grace_ms = PARK_GRACE // timedelta(milliseconds=1)
    assert sweep_parked([0], 1_000 + grace_ms, sim.store.get).expired == []
    out = sweep_parked([0, 1], 2_000 + grace_ms + 1, sim.store.get)
    assert [(x.partition, x.rejected.reason, x.rejected.offset, x.rejected.key)
            for x in out.expired] == [(0, "unknown_article", 7, "ghost"),
                                      (0, "unknown_article", 8, "ghost")]
    first = out.expired[0].rejected.raw_b64
    assert first is not None
    assert base64.b64decode(first) == raw
    apply(sim.store, [(k, v) for part in out.writes.values() for k, v in part.items()])
    assert not any(k.startswith("p/") for k in sim.store)
    assert sim.store[article_key("ghost")]["parked"] == []
    assert sim.store[park_key(0)]["articles"] == {}
    # Swept once: nothing is left for the next sweep, and the article may still come.
    assert sweep_parked([0], 10 * grace_ms, sim.store.get).expired == []
    late = sim.feed(published("ghost"), Position(ARTICLES, 1, 0, 10 * grace_ms))
    assert sim.store[article_key("ghost")]["count"] == 0
    assert not any(isinstance(e, Rejected) for e in late.emits)


def test_excerpt_cuts_at_a_word_boundary_with_an_ellipsis() -> None:
    body = "word " * 40
    cut = excerpt(body)
    assert cut.endswith("…")
    assert len(cut) <= 101
    assert cut[:-1].split(" ") == ["word"] * (len(cut[:-1].split(" ")))
    assert excerpt("  short\n text ") == "short text"
    assert excerpt("x" * 150) == "x" * 100 + "…"
    exact = ("a" * 49 + " ") * 2 + "tail"
    assert excerpt(exact) == "a" * 49 + " " + "a" * 49 + "…"


def test_history_pages_backwards_with_a_cursor() -> None:
    events: list[InputEvent] = [published("a1")]
    events += [posted("a1", f"c{i:02d}", minute=i) for i in range(7)]
    events.append(moderated("a1", "c03", "hidden", "m1"))
    sim = run(events)
    _, _, snap = queries.article_snapshot("a1", sim.store.get, limit=3, namespace=NS)
    assert [c["comment_id"] for c in snap["comments"]] == ["c04", "c05", "c06"]
    page = queries.history("a1", sim.store.get, before=snap["cursor"], limit=2)
    assert [c["comment_id"] for c in page["comments"]] == ["c02", "c01"]
    last = queries.history("a1", sim.store.get, before=page["cursor"], limit=2)
    assert [c["comment_id"] for c in last["comments"]] == ["c00"]
    assert last["cursor"] is None


def test_snapshots_and_history_read_the_same_records_however_many_comments_were_deleted(
) -> None:
    def reads(removed: int) -> tuple[int, int, list[str]]:
        events: list[InputEvent] = [published("a1"), posted("a1", "old", minute=0)]
        events += [posted("a1", f"d{i}", minute=1) for i in range(removed)]
        events += [deleted("a1", f"d{i}", f"del{i}") for i in range(removed)]
        events += [posted("a1", "new", minute=2)]
        store = run(events).store
        keys: list[str] = []

        def read(key: str) -> Record | None:
            keys.append(key)
            return store.get(key)

        _, _, snap = queries.article_snapshot("a1", read, limit=50, namespace=NS)
        snapshot_reads = len(keys)
        keys.clear()
        page = queries.history("a1", read, before="new", limit=50)
        return snapshot_reads, len(keys), [c["comment_id"] for c in
                                           [*snap["comments"], *page["comments"]]]

    assert reads(0) == reads(300) == (3, 2, ["old", "new", "old"])


def test_a_removed_comment_with_replies_stays_as_a_placeholder_in_snapshots_and_history(
) -> None:
    events: list[InputEvent] = [published("a1"), posted("a1", "p", minute=0),
                                posted("a1", "r", parent="p", minute=1),
                                posted("a1", "rr", parent="r", minute=2),
                                posted("a1", "lone", minute=3),
                                deleted("a1", "p", "d1"), moderated("a1", "r", "hidden", "m1"),
                                deleted("a1", "lone", "d2")]
    sim = run(events)
    _, _, snap = queries.article_snapshot("a1", sim.store.get, limit=50, namespace=NS)
    ph = {"article_id": "a1", "posted_at": "2026-03-14T09:00:00Z", "removed": True}
    assert snap["comments"][:2] == [{**ph, "comment_id": "p", "parent_id": None},
                                    {**ph, "comment_id": "r", "parent_id": "p",
                                     "posted_at": "2026-03-14T09:01:00Z"}]
    assert [c["comment_id"] for c in snap["comments"]] == ["p", "r", "rr"]
    assert snap["count"] == 1
    page = queries.history("a1", sim.store.get, before="rr", limit=1)
    assert [c["comment_id"] for c in page["comments"]] == ["r"]
    assert page["cursor"] == "r"
    assert [c["comment_id"] for c in queries.history(
        "a1", sim.store.get, before="r", limit=5)["comments"]] == ["p"]
    assert_cold_equals_live(sim)
    # The last showing reply goes: both placeholders go, up the chain, as they do live; the
    # deleted one leaves the chain, so reading past it costs nothing again.
    sim.feed(deleted("a1", "rr", "d3"), Position(COMMENTS, 100))
    _, _, snap = queries.article_snapshot("a1", sim.store.get, limit=50, namespace=NS)
    assert snap["comments"] == []
    assert_cold_equals_live(sim)
    p = sim.store[comment_key("a1", "p")]
    assert (p["ph"], p["kids"]) == (False, 0)
    assert sim.store[article_key("a1")]["head"] == "r"  # hidden comments stay in the chain


def test_a_restored_comment_replaces_its_placeholder() -> None:
    sim = run([published("a1"), posted("a1", "p"), posted("a1", "r", parent="p", minute=1),
               moderated("a1", "p", "hidden", "m1"), moderated("a1", "p", "visible", "m2")])
    _, _, snap = queries.article_snapshot("a1", sim.store.get, limit=50, namespace=NS)
    assert [(c["comment_id"], c.get("removed")) for c in snap["comments"]] == [
        ("p", None), ("r", None)]
    assert_cold_equals_live(sim, ordered=True)


def test_a_restored_comment_is_in_its_place_live_as_cold() -> None:
    sim = run([published("a1"), posted("a1", "x"), posted("a1", "y", minute=1),
               posted("a1", "z", minute=2), moderated("a1", "y", "hidden", "m1"),
               moderated("a1", "y", "visible", "m2"), posted("a1", "w", minute=3),
               posted("a1", "v", status="pending", minute=4), posted("a1", "u", minute=5),
               moderated("a1", "v", "visible", "m3")])
    _, _, snap = queries.article_snapshot("a1", sim.store.get, limit=50, namespace=NS)
    assert [c["comment_id"] for c in snap["comments"]] == ["x", "y", "z", "w", "v", "u"]
    assert_cold_equals_live(sim, ordered=True)


def test_a_voters_votes_in_an_article_are_kept_for_votes_mine() -> None:
    sim = run([published("a1"), published("a2"), posted("a1", "c1"), posted("a1", "c2"),
               posted("a2", "x1"),
               voted("a1", "c1", "u1", 1, "v1"), voted("a1", "c2", "u1", -1, "v2"),
               voted("a1", "c1", "u2", -1, "v3"), voted("a2", "x1", "u1", 1, "v4")])
    mine = queries.voter_votes("a1", "u1", sim.store.get)
    assert mine == {"article_id": "a1", "voter_id": "u1", "votes": {"c1": 1, "c2": -1}}
    assert queries.voter_votes("a1", "u2", sim.store.get)["votes"] == {"c1": -1}
    assert queries.voter_votes("a1", "nobody", sim.store.get)["votes"] == {}
    # A 0 withdraws; a vote delivered again (same event id) changes nothing.
    sim.feed(voted("a1", "c2", "u1", 0, "v5"), Position(COMMENTS, 50))
    sim.feed(voted("a1", "c1", "u1", 1, "v1"), Position(COMMENTS, 51))
    sim.feed(voted("a1", "c2", "u1", -1, "v2"), Position(COMMENTS, 52))  # v2 again
    assert queries.voter_votes("a1", "u1", sim.store.get)["votes"] == {"c1": 1}
    assert sim.store[comment_key("a1", "c1")]["score"] == 0
    assert sim.store[comment_key("a1", "c2")]["score"] == 0


def test_a_voters_list_keeps_the_most_recently_changed_votes_up_to_the_bound() -> None:
    n = MAX_VOTES_PER_VOTER + 5
    events: list[InputEvent] = [published("a1")]
    events += [posted("a1", f"c{i}") for i in range(n)]
    events += [voted("a1", f"c{i}", "u1", 1, f"v{i}") for i in range(n)]
    events.append(voted("a1", "c0", "u1", -1, "again"))  # changed last: kept
    sim = run(events)
    votes = queries.voter_votes("a1", "u1", sim.store.get)["votes"]
    assert len(votes) == MAX_VOTES_PER_VOTER
    assert votes["c0"] == -1
    assert [k for k in votes if k != "c0"][:2] == ["c6", "c7"]  # c1..c5 forgotten, oldest first
    assert list(votes)[-1] == "c0"
    # Forgotten there, they still count in the scores.
    assert sim.store[comment_key("a1", "c1")]["score"] == 1
    assert len(codec.dumps(sim.store["m/a1/u1"])) < 200_000


def test_best_pages_rank_top_level_comments_beyond_the_loaded_ones_with_bounded_state(
) -> None:
    n = TOP_COMMENTS + 30
    events: list[InputEvent] = [published("a1")]
    events += [posted("a1", f"c{i:03d}", minute=i) for i in range(n)]
    events.append(posted("a1", "reply", parent="c000", minute=n))
    # Old comments collect votes; one listed comment later loses its votes again.
    events += [voted("a1", "c003", f"u{v}", 1, f"v3-{v}") for v in range(3)]
    events += [voted("a1", "c010", f"u{v}", 1, f"v10-{v}") for v in range(5)]
    events += [voted("a1", "c020", "u1", 1, "v20"), voted("a1", "reply", "u1", 1, "vr")]
    events.append(voted("a1", "c020", "u1", 0, "v20-back"))
    events.append(moderated("a1", "c010", "hidden", "m1"))
    store = run(events).store
    served = assert_best_is_exact(store, "a1", limit=1)
    assert served == ["c003"]  # c010 hidden; c020 back at 0, which is the floor
    index = store["t/a1"]
    assert len(index["top"]) == TOP_COMMENTS - 1  # c010 left it
    assert index["floor"] == 0
    store2 = run([*events, moderated("a1", "c010", "visible", "m2")]).store
    assert assert_best_is_exact(store2, "a1") == ["c010", "c003"]
    page = queries.history("a1", store2.get, before=None, limit=1, sort="best")
    assert (page["cursor"], page["floor"]) == ("b1", 0)
    assert page["comments"][0]["score"] == 5


def test_an_article_older_than_the_best_index_claims_no_best_comments() -> None:
    sim = run([published("a1"), posted("a1", "c1"), posted("a1", "c2")])
    # As a worker before the index left it: no index, no mark on the article.
    del sim.store["t/a1"]
    sim.store[article_key("a1")] = {k: v for k, v in sim.store[article_key("a1")].items()
                                    if k != "ranked"}
    sim.feed(voted("a1", "c2", "u1", 1, "v1"), Position(COMMENTS, 10))
    page = queries.history("a1", sim.store.get, before=None, limit=50, sort="best")
    assert page == {"comments": [], "cursor": None, "floor": UNRANKED_FLOOR}


def test_best_pages_refuse_a_foreign_cursor() -> None:
    sim = run([published("a1"), posted("a1", "c1")])
    with pytest.raises(queries.QueryError, match="not a cursor of a best page"):
        queries.history("a1", sim.store.get, before="c1", limit=5, sort="best")
    assert queries.parse_sort("best") == "best"
    assert queries.parse_sort(None) == "newest"


def test_unknown_channels_answer_an_empty_state_with_the_epoch_to_come() -> None:
    sim = Sim()
    epoch, offset, snap = queries.article_snapshot("a9", sim.store.get, limit=50, namespace=NS)
    assert (offset, snap) == (0, {"article": None, "count": 0, "comments": [], "cursor": None})
    sim2 = run([published("a9"), posted("a9", "c1")])
    first = sim2.updates()[0]
    assert first.channel == "article:a9"
    assert first.epoch == epoch
    assert first.offset == 1


# -- the property: any interleaving equals a plain recount, also across a crash ---------------


ARTICLE_IDS = ["a1", "a2", "late"]
#: Published at the start; ``late`` only when an op publishes it, so its comments may wait.
EARLY_ARTICLES = ["a1", "a2"]
COMMENT_IDS = ["c1", "c2", "c3", "c4"]
VOTERS = ["u1", "u2", "u3"]
BODIES = ["first words", "second words here", "third, longer words " * 8]

op = st.one_of(
    st.tuples(st.just("post"), st.sampled_from(ARTICLE_IDS), st.sampled_from(COMMENT_IDS),
              st.none() | st.sampled_from(COMMENT_IDS), st.sampled_from(["visible", "pending"]),
              st.integers(0, 500)),
    st.tuples(st.just("edit"), st.sampled_from(ARTICLE_IDS), st.sampled_from(COMMENT_IDS),
              st.sampled_from(BODIES), st.integers(0, 30)),
    st.tuples(st.just("delete"), st.sampled_from(ARTICLE_IDS), st.sampled_from(COMMENT_IDS)),
    st.tuples(st.just("moderate"), st.sampled_from(ARTICLE_IDS), st.sampled_from(COMMENT_IDS),
              st.sampled_from(["visible", "hidden"])),
    st.tuples(st.just("vote"), st.sampled_from(ARTICLE_IDS), st.sampled_from(COMMENT_IDS),
              st.sampled_from(VOTERS), st.sampled_from([-1, 0, 1])),
    st.tuples(st.just("dup"), st.integers(1, 12)),
    st.tuples(st.just("retitle"), st.sampled_from(EARLY_ARTICLES), st.sampled_from(["T1", "T2"])),
    st.tuples(st.just("publish"), st.integers(0, 500)),
    st.tuples(st.just("drop"), st.sampled_from(EARLY_ARTICLES)),
)


def build(ops: list[tuple[Any, ...]]) -> list[InputEvent]:
    events: list[InputEvent] = [published(a) for a in EARLY_ARTICLES]
    for n, o in enumerate(ops):
        eid = f"e{n}"
        kind = o[0]
        if kind == "post":
            _, aid, cid, parent, status, minute = o
            events.append(posted(aid, cid, parent=parent, status=status, minute=minute,
                                 body=f"comment {cid} on {aid}", eid=eid))
        elif kind == "edit":
            events.append(edited(o[1], o[2], o[3], o[4], eid))
        elif kind == "delete":
            events.append(deleted(o[1], o[2], eid))
        elif kind == "moderate":
            events.append(moderated(o[1], o[2], o[3], eid))
        elif kind == "vote":
            events.append(voted(o[1], o[2], o[3], o[4], eid))
        elif kind == "dup":
            events.append(events[max(0, len(events) - o[1])])
        elif kind == "drop":
            events.append(ArticleDeleted(id=eid, subject=o[1],
                                         data=ArticleRef(article_id=o[1], site=SITE)))
        elif kind == "publish":
            late = published("late", eid=eid)
            events.append(late.model_copy(update={"time": T0 + timedelta(minutes=o[1])}))
        else:
            data = published(o[1]).data.model_copy(update={"title": o[2]})
            events.append(ArticleUpdated(id=eid, subject=o[1], data=data))
    return events


@dataclass
class Truth:
    counts: dict[str, int]
    scores: dict[tuple[str, str], int]
    statuses: dict[tuple[str, str], str]
    bodies: dict[tuple[str, str], str]
    visible_in_order: dict[str, list[str]]


def recount(events: list[InputEvent]) -> Truth:
    """Plain semantics over the surviving events: an event id counts once.

    An event that reached an existing comment is done, whatever it changed; a post is done
    once its comment exists (a refused one may succeed when delivered again).

    Comment events for an article not published yet wait for it (and are applied when it comes)
    unless the partition's event time moves past the grace first: then they are dropped.
    """
    applied: set[str] = set()
    comments: dict[tuple[str, str], dict[str, Any]] = {}
    order: dict[str, list[str]] = defaultdict(list)
    published_ids: set[str] = set(EARLY_ARTICLES)
    dropped: set[str] = set()
    waiting: dict[str, tuple[int, list[InputEvent]]] = {}
    grace = PARK_GRACE // timedelta(milliseconds=1)

    def apply(e: InputEvent) -> None:
        if e.id in applied:
            return
        d = e.data
        key = (d.article_id, getattr(d, "comment_id", ""))
        c = comments.get(key)
        done = False
        if isinstance(e, ArticleDeleted):
            # Its comments go with it, as if each were deleted.
            dropped.add(d.article_id)
            for (aid, _), other in comments.items():
                if aid == d.article_id:
                    other["status"] = "deleted"
            done = True
        elif isinstance(e, CommentPosted):
            parent_ok = e.data.parent_id is None or (d.article_id, e.data.parent_id) in comments
            if c is None and parent_ok and d.article_id not in dropped:
                comments[key] = {"status": e.data.status, "body": e.data.body, "edited": None,
                                 "votes": {}}
                order[d.article_id].append(e.data.comment_id)
                done = True
        elif c is not None and c["status"] != "deleted":
            done = True
            if isinstance(e, CommentEdited):
                if e.data.body != c["body"]:  # in log order, whatever the clocks say
                    c["body"], c["edited"] = e.data.body, e.data.edited_at
            elif isinstance(e, CommentDeleted):
                c["status"] = "deleted"
            elif isinstance(e, CommentModerated):
                c["status"] = e.data.status
            elif isinstance(e, CommentVoted):
                c["votes"][e.data.voter_id] = e.data.value
        if done:
            applied.add(e.id)

    for n, e in enumerate(events):
        arrived = n * ARRIVAL_STEP_MS
        publishing = isinstance(e, ArticlePublished | ArticleUpdated)
        for aid, (since, _) in list(waiting.items()):
            if since < arrived - grace and not (publishing and e.data.article_id == aid):
                del waiting[aid]
        aid = e.data.article_id
        if publishing:
            published_ids.add(aid)
            for held in waiting.pop(aid, (arrived, []))[1]:
                apply(held)
        elif aid not in published_ids:
            waiting.setdefault(aid, (arrived, []))[1].append(e)
        else:
            apply(e)
    return Truth(
        counts={a: sum(1 for (aa, _), c in comments.items() if aa == a and c["status"] == "visible")
                for a in ARTICLE_IDS},
        scores={k: sum(c["votes"].values()) for k, c in comments.items()},
        statuses={k: c["status"] for k, c in comments.items()},
        bodies={k: c["body"] for k, c in comments.items()},
        visible_in_order={a: [cid for cid in order[a] if comments[(a, cid)]["status"] == "visible"]
                          for a in ARTICLE_IDS},
    )


def assert_matches(store: dict[str, Record], truth: Truth) -> None:
    for aid in ARTICLE_IDS:
        assert store.get(article_key(aid), {"count": 0})["count"] == truth.counts[aid]
        _, _, snap = queries.article_snapshot(aid, store.get, limit=50, namespace=NS)
        assert [c["comment_id"] for c in snap["comments"]
                if not c.get("removed")] == truth.visible_in_order[aid]
    for (aid, cid), score in truth.scores.items():
        c = store[comment_key(aid, cid)]
        assert (c["score"], c["status"], c["body"]) == (
            score, truth.statuses[(aid, cid)], truth.bodies[(aid, cid)])


def assert_channels_are_gapless(updates: list[ChannelUpdate], store: dict[str, Record]) -> None:
    for channel, items in by_channel(updates).items():
        assert [u.offset for u in items] == list(range(1, len(items) + 1)), channel
        assert len({u.epoch for u in items}) == 1
        kind, _, key = channel.partition(":")
        a = store[article_key(key)]
        if kind == "count":
            assert items[-1].payload["count"] == a["count"]
            assert items[-1].offset == a["oc"]
        else:
            assert items[-1].offset == a["oa"]
            counts = [u for u in items if u.kind == "count"]
            assert not counts or counts[-1].payload["count"] == a["count"]


@settings(max_examples=300, deadline=None)
@given(st.lists(op, min_size=1, max_size=40))
def test_any_interleaving_gives_the_recount(ops: list[tuple[Any, ...]]) -> None:
    events = build(ops)
    sim = run(events)
    assert_matches(sim.store, recount(events))
    assert_channels_are_gapless(sim.updates(), sim.store)
    assert_cold_equals_live(sim)


@st.composite
def threads(draw: st.DrawFn) -> list[tuple[Any, ...]]:
    """Ops on one article: replies to earlier comments, removals and restorations between."""
    ids = [f"t{i}" for i in range(draw(st.integers(2, 7)))]
    posts = [("post", "a1", cid, draw(st.none() | st.sampled_from(ids[:i])) if i else None,
              draw(st.sampled_from(["visible", "visible", "pending"])), i)
             for i, cid in enumerate(ids)]
    changes = draw(st.lists(st.one_of(
        st.tuples(st.just("delete"), st.just("a1"), st.sampled_from(ids)),
        st.tuples(st.just("moderate"), st.just("a1"), st.sampled_from(ids),
                  st.sampled_from(["visible", "hidden"])),
        st.tuples(st.just("vote"), st.just("a1"), st.sampled_from(ids),
                  st.sampled_from(VOTERS), st.sampled_from([-1, 1])),
    ), max_size=20))
    # Changes land anywhere after the comment they name was posted (or before: refused).
    ops: list[tuple[Any, ...]] = list(posts)
    for change in changes:
        ops.insert(draw(st.integers(0, len(ops))), change)
    if draw(st.integers(0, 9)) == 0:
        ops.append(("drop", "a1"))
    return ops


@settings(max_examples=400, deadline=None)
@given(threads())
def test_threads_with_removals_snapshot_cold_as_they_were_built_live(
    ops: list[tuple[Any, ...]],
) -> None:
    events = build(ops)
    sim = run(events)
    assert_cold_equals_live(sim, ordered=True)  # posts are stamped in log order here
    assert_matches(sim.store, recount(events))
    assert_best_is_exact(sim.store, "a1")


def assert_best_is_exact(store: dict[str, Record], aid: str, limit: int = 100) -> list[str]:
    """Best pages list the best top-level comments, in order, and every one left out scores
    at most ``floor``."""
    every = sorted(((c["score"], c["seq"], c["id"]) for k, c in store.items()
                    if k.startswith(f"c/{aid}/") and c["parent"] is None
                    and c["status"] == "visible"), reverse=True)
    served: list[str] = []
    page = queries.history(aid, store.get, before=None, limit=limit, sort="best")
    while True:
        served += [c["comment_id"] for c in page["comments"]]
        if page["cursor"] is None:
            break
        page = queries.history(aid, store.get, before=page["cursor"], limit=limit, sort="best")
    assert served == [cid for _, _, cid in every[:len(served)]]
    floor = page["floor"]
    assert all(score <= floor for score, _, cid in every if cid not in served) if (
        floor is not None) else len(served) == len(every)
    return served


def live_threads(updates: list[ChannelUpdate]) -> dict[str, dict[str, Any]]:
    """Each article's thread as a client that saw every update live keeps it (the gateway's
    fold of hot snapshots, which the widgets mirror)."""
    out: dict[str, dict[str, Any]] = {}
    for u in updates:
        if u.channel.startswith("article:"):
            state = out.setdefault(u.channel.removeprefix("article:"),
                                   {"article": None, "count": 0, "comments": [], "cursor": None})
            assert hot_fold("article", state, u, 10_000) is state
    return out


def assert_cold_equals_live(sim: Sim, *, ordered: bool = False) -> None:
    """A cold snapshot lists what a live client lists, placeholders included. Cold lists in
    log order; live, a comment that comes back (approved, restored) goes back by ``posted_at``,
    so the order is compared too (``ordered``) when posts were stamped in log order."""
    for aid, live in live_threads(sim.updates()).items():
        _, _, cold = queries.article_snapshot(aid, sim.store.get, limit=100, namespace=NS)
        assert {c["comment_id"]: c for c in cold["comments"]} == {
            c["comment_id"]: c for c in live["comments"]}, aid
        if ordered:
            assert cold["comments"] == live["comments"], aid


def cut(items: list[Any], sizes: list[int]) -> list[list[Any]]:
    """Consecutive batches of ``items``, their sizes cycling through ``sizes``."""
    out: list[list[Any]] = []
    at = i = 0
    while at < len(items):
        size = max(1, sizes[i % len(sizes)])
        out.append(items[at:at + size])
        at += size
        i += 1
    return out


def plain(store: dict[str, Record]) -> dict[str, Record | None]:
    """The state without bookkeeping or batch marks (which depend on where batches were cut),
    nor parked comments no article lists any more (a delete a crash lost after the mark)."""
    listed = {parked_key(v["id"], o) for k, v in store.items() if k.startswith("a/")
              for o, _ in v["parked"]}
    return {k: fields(v) for k, v in store.items()
            if not k.startswith("b/") and (not k.startswith("p/") or k in listed)}


batch_sizes = st.lists(st.integers(1, 8), min_size=1, max_size=4)


@settings(max_examples=300, deadline=None)
@given(st.lists(op, min_size=1, max_size=40), batch_sizes)
def test_batches_fold_to_the_same_state_and_updates_as_one_event_at_a_time(
    ops: list[tuple[Any, ...]], sizes: list[int],
) -> None:
    plan = positioned(build(ops))
    single = Sim()
    for event, pos in plan:
        single.feed(event, pos)
    batched = Sim()
    for batch in cut(plan, sizes):
        batched.feed_batch(batch)
    assert plain(batched.store) == plain(single.store)
    assert batched.updates() == single.updates()
    # Each key is written at most once per batch.
    for writes, _ in batched.per_event:
        assert len({k for k, _ in writes}) == len(writes)


@st.composite
def crashes(draw: st.DrawFn) -> tuple[list[InputEvent], list[int], int, int, list[int]]:
    """Events, batch sizes before the crash, how much of the log survived, the commit pick,
    batch sizes of the replay."""
    events = build(draw(st.lists(op, min_size=1, max_size=30)))
    return (events, draw(batch_sizes), draw(st.integers(0, 10_000)), draw(st.integers(0, 40)),
            draw(batch_sizes))


@settings(max_examples=400, deadline=None)
@given(crashes())
def test_a_crash_anywhere_in_a_batch_and_replay_loses_nothing_and_counts_nothing_twice(
    case: tuple[list[InputEvent], list[int], int, int, list[int]],
) -> None:
    crash_and_replay(*case)


@settings(max_examples=300, deadline=None)
@given(threads(), batch_sizes, st.integers(0, 10_000), st.integers(0, 40), batch_sizes)
def test_a_crash_in_threads_with_placeholders_and_best_ranks_replays_exactly(
    ops: list[tuple[Any, ...]], sizes: list[int], kept_pick: int, commit_pick: int,
    replay_sizes: list[int],
) -> None:
    crash_and_replay(build(ops), sizes, kept_pick, commit_pick, replay_sizes)


def crash_and_replay(events: list[InputEvent], sizes: list[int], kept_pick: int,
                     commit_pick: int, replay_sizes: list[int]) -> None:
    plan = positioned(events)
    clean = Sim()
    for event, pos in plan:
        clean.feed(event, pos)

    crashed = Sim()
    batches = cut(plan, sizes)
    for batch in batches:
        crashed.feed_batch(batch)
    # One ordered log: each batch's feed updates, then its writes (its batch mark last). The
    # broker kept a prefix of it.
    log: list[tuple[int, tuple[str, Record | None] | Emit]] = []
    for n, (writes, emits) in enumerate(crashed.per_event):
        log += [(n, e) for e in emits]
        log += [(n, w) for w in writes]
    kept = log[: kept_pick % (len(log) + 1)]
    restarted = Sim()
    landed: list[Emit] = []
    for _, item in kept:
        if isinstance(item, tuple):
            apply(restarted.store, [item])
        else:
            landed.append(item)
    # Faust commits only after flushing, and acknowledges a batch's events after the batch:
    # the commit lies at or before the end of the batches that landed whole.
    whole = 0
    for n, (writes, emits) in enumerate(crashed.per_event):
        if sum(1 for m, _ in kept if m == n) < len(writes) + len(emits):
            break
        whole += len(batches[n])
    commit = min(commit_pick, whole)
    for batch in cut(plan[commit:], replay_sizes):
        restarted.feed_batch(batch)

    assert plain(restarted.store) == plain(clean.store)
    assert_matches(restarted.store, recount(events))
    # Consumers keep the first update they see per offset: the result is the clean stream.
    seen: dict[tuple[str, int], ChannelUpdate] = {}
    for e in [*landed, *(e for _, emits in restarted.per_event for e in emits)]:
        if isinstance(e, ChannelUpdate):
            first = seen.setdefault((e.channel, e.offset), e)
            assert first == e, "a replay re-used an offset for a different update"
    clean_updates = {(u.channel, u.offset): u for u in clean.updates()}
    assert seen == clean_updates


# -- the site-wide recent list -----------------------------------------------------------------


@dataclass
class SiteSim:
    store: dict[str, Record] = field(default_factory=dict)
    per_fact: list[tuple[list[tuple[str, Record | None]], list[ChannelUpdate]]] = field(
        default_factory=list)
    offset: int = 0

    def feed(self, fact: dict[str, Any], offset: int | None = None) -> SiteOutcome:
        at = self.offset if offset is None else offset
        self.offset = at + 1
        out = fold_facts([([fact], Position(FACTS, at))], self.store.get, namespace=NS)
        writes: list[tuple[str, Record | None]] = []
        if out.write is not None:
            writes.append((site_key(out.write["site"]), dict(out.write)))
            self.store[site_key(out.write["site"])] = dict(out.write)
        self.per_fact.append((writes, list(out.emits)))
        return out

    def served(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = queries.recent_snapshot(
            SITE, self.store.get, namespace=NS)[2]["items"]
        return items


def facts_of(sim: Sim) -> list[dict[str, Any]]:
    return [e.fact for _, emits in sim.per_event for e in emits if isinstance(e, RecentFact)]


def test_recent_list_serves_the_newest_ten_and_the_next_moves_up() -> None:
    events: list[InputEvent] = [published("a1"), published("a2")]
    events += [posted("a1" if i % 2 else "a2", f"c{i:02d}", minute=i,
                      body=f"comment number {i} " + "with quite a few words " * 6)
               for i in range(KEEP_RECENT + 12)]
    events.append(moderated("a1", "c61", "hidden", "m1"))
    events.append(deleted("a2", "c60", "d1"))
    events.append(edited("a1", "c59", "edited text", 90, "e1"))
    sim = run(events)
    site = SiteSim()
    for fact in facts_of(sim):
        site.feed(fact)
    items = site.served()
    assert [i["comment_id"] for i in items] == [f"c{i:02d}" for i in range(59, 49, -1)]
    assert items[0]["excerpt"] == "edited text"
    assert all(i["excerpt"].endswith("…") for i in items[1:])
    assert items[1]["author_name"] == "Reader c58"
    for item in items:
        RecentItem.model_validate(item)
    s = site.store[site_key(SITE)]
    # It kept the newest fifty; two of them left since, and the pruned ones do not return.
    assert sum(1 for e in s["entries"] if e[3]) == KEEP_RECENT - 2
    updates = [e for _, emits in site.per_fact for e in emits if isinstance(e, ChannelUpdate)]
    assert [u.offset for u in updates] == list(range(1, len(updates) + 1))
    assert updates[-1].payload["items"] == items


@settings(max_examples=200, deadline=None)
@given(st.lists(op, min_size=1, max_size=30), st.data())
def test_recent_list_survives_duplicate_and_replayed_facts(
    ops: list[tuple[Any, ...]], data: st.DataObject,
) -> None:
    events = build(ops)
    facts = facts_of(run(events))
    clean = SiteSim()
    for fact in facts:
        clean.feed(fact)
    # Upstream replays re-send facts (same versions); the site agent itself crashes too.
    noisy = list(facts)
    if facts:
        at = data.draw(st.integers(0, len(facts)))
        back = data.draw(st.integers(0, at))
        noisy = facts[:at] + facts[back:]
    crashed = SiteSim()
    crash_at = data.draw(st.integers(0, len(noisy)))
    for fact in noisy[:crash_at]:
        crashed.feed(fact)
    keep = data.draw(st.integers(0, 3))
    survivor = SiteSim()
    writes = [w for ws, _ in crashed.per_fact for w in ws]
    cut = len(writes) - (keep if crash_at else 0)
    for key, value in writes[:max(0, cut)]:
        if value is None:
            survivor.store.pop(key, None)
        else:
            survivor.store[key] = value
    # The commit only covers facts whose writes were all flushed.
    flushed, total = 0, 0
    for ws, _ in crashed.per_fact:
        total += len(ws)
        if total > cut:
            break
        flushed += 1
    commit = data.draw(st.integers(0, min(crash_at, flushed)))
    # Replay the site topic from the commit, at the same offsets, then the rest.
    for offset in range(commit, len(noisy)):
        survivor.feed(noisy[offset], offset)
    assert survivor.served() == clean.served()
    truth = recount(events)
    visible = sorted(
        ((f["posted_at"], f"{f['article_id']}/{f['comment_id']}"), f["comment_id"])
        for f in facts if truth.statuses.get((f["article_id"], f["comment_id"])) == "visible")
    newest = [cid for _, cid in sorted(set(visible), reverse=True)][:10]
    assert [i["comment_id"] for i in clean.served()] == newest


def test_feed_records_round_trip_through_the_contract() -> None:
    from streams.records import dead_letter_record, feed_count_record, feed_updates_record

    sim = run(demo_events())
    for channel, updates in by_channel(sim.updates()).items():
        decoded = codec.decode_feed_update(feed_updates_record(updates, "2026-03-14T09:00:00Z"))
        assert (decoded.data.channel, decoded.data.epoch) == (channel, updates[0].epoch)
        assert [(u.offset, u.kind, u.payload) for u in decoded.data.updates] == [
            (u.offset, u.kind, u.payload) for u in updates]
        assert decoded.type == "feed.updates"
        assert decoded.id == f"{channel}@{updates[0].epoch}:" + (
            f"{updates[0].offset}-{updates[-1].offset}" if len(updates) > 1
            else f"{updates[0].offset}")
    count = next(e for _, em in sim.per_event for e in em if isinstance(e, CountChanged))
    assert codec.decode_feed_count(feed_count_record(count, "2026-03-14T09:00:00Z")).data.count \
        == count.count
    letter = codec.decode_dead_letter(dead_letter_record(
        Rejected("unknown_article", "never published", "data.article_id"), raw=b"{}",
        topic="comments", partition=1, offset=7, key=b"zz"))
    assert (letter.reason, letter.field, letter.offset, letter.key) == (
        "unknown_article", "data.article_id", 7, "zz")
