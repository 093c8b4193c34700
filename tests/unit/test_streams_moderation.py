"""The moderation queue: the comment fold's queue facts and the site-queue fold, pure.

A small harness runs events through :func:`streams.fold.fold_batch`, hands the queue facts
to :func:`streams.modqueue.fold_queue` as internal records, and plays the emitted updates
into a client-side copy of the queue, which must always equal the snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commentfeed import codec
from commentfeed.channels import ChannelUpdate
from commentfeed.errors import EventDecodeError
from commentfeed.events import (
    ArticleData,
    ArticleDeleted,
    ArticlePublished,
    ArticleRef,
    Author,
    CommentDeleted,
    CommentDeletedData,
    CommentModerated,
    CommentModeratedData,
    CommentPosted,
    CommentPostedData,
    CommentReported,
    CommentReportedData,
    ModerationSnapshot,
    UserBanned,
    UserBannedData,
)
from streams import modqueue, queries
from streams.fold import Failed, QueueFact, Rejected, fold_batch
from streams.moderation import decode_comments_record
from streams.modqueue import MAX_HIDDEN, MAX_OPEN, fold_queue, new_queue
from streams.shapes import ARTICLES, COMMENTS, FACTS, Position, Record, article_key, queue_key

NS = "unit"
SITE = "demo"
T0 = datetime(2026, 3, 14, 9, 0, tzinfo=UTC)
CHANNEL = f"moderation:{SITE}"


def published(aid: str) -> ArticlePublished:
    return ArticlePublished(id=f"pub-{aid}", subject=aid, time=T0, data=ArticleData(
        article_id=aid, site=SITE, title="T", url=f"https://news.example/{aid}", author="Ed",
        published_at=T0))


def posted(aid: str, cid: str, status: str = "visible", minute: int = 0,
           held_for: tuple[str, ...] = ()) -> CommentPosted:
    at = T0 + timedelta(minutes=minute)
    return CommentPosted(id=f"post-{cid}", subject=aid, time=at, data=CommentPostedData(
        comment_id=cid, article_id=aid, site=SITE, author=Author(id=f"u-{cid}", name="Ann"),
        body=f"words of {cid}", posted_at=at, status=status, held_for=list(held_for)))


def moderated(aid: str, cid: str, status: str, eid: str, *, seconds: float = 0,
              reason: str | None = None) -> CommentModerated:
    return CommentModerated(id=eid, subject=aid, time=T0 + timedelta(seconds=seconds),
                            data=CommentModeratedData(comment_id=cid, article_id=aid, site=SITE,
                                                      status=status, moderator="mod-1",
                                                      reason=reason))


def reported(aid: str, cid: str, reporter: str, reason: str = "spam") -> CommentReported:
    return CommentReported(id=f"rep-{cid}-{reporter}", subject=aid, time=T0,
                           data=CommentReportedData(comment_id=cid, article_id=aid, site=SITE,
                                                    reporter_id=reporter, reason=reason))


def deleted(aid: str, cid: str, eid: str) -> CommentDeleted:
    return CommentDeleted(id=eid, subject=aid, time=T0, data=CommentDeletedData(
        comment_id=cid, article_id=aid, site=SITE, deleted_by="mod-1"))


def banned(user: str) -> UserBanned:
    return UserBanned(subject=f"site:{SITE}", time=T0, data=UserBannedData(
        user_id=user, site=SITE, until=T0 + timedelta(days=1), moderator="mod-1"))


@dataclass
class Desk:
    """One partition of the fold, the site-queue fold, and a moderator's client."""

    state: dict[str, Record] = field(default_factory=dict)
    sites: dict[str, Record] = field(default_factory=dict)
    offsets: dict[str, int] = field(default_factory=lambda: {ARTICLES: 0, COMMENTS: 0})
    fact_offset: int = 0
    #: The client: its queue by comment id, and the channel offset it has.
    client: dict[str, dict[str, Any]] = field(default_factory=dict)
    seen: int = 0
    updates: list[ChannelUpdate] = field(default_factory=list)
    records: list[tuple[list[dict[str, Any]], Position]] = field(default_factory=list)

    def feed(self, *events: Any) -> list[Any]:
        batch = []
        for e in events:
            tag = ARTICLES if e.type.startswith("article.") else COMMENTS
            batch.append((e, Position(tag, self.offsets[tag]), codec.encode(e)))
            self.offsets[tag] += 1
        out = fold_batch(batch, self.state.get, namespace=NS, report_threshold=3)
        for part in out.writes.values():
            for k, v in part.items():
                if v is None:
                    self.state.pop(k, None)
                else:
                    self.state[k] = v
        emits: list[Any] = []
        for _, made in out.emits:
            assert not isinstance(made, Failed), made
            emits += made
        facts = [e.fact for e in emits if isinstance(e, QueueFact)]
        if facts:
            self.fold_facts([facts])
        return emits

    def fold_facts(self, records: list[list[dict[str, Any]]]) -> list[ChannelUpdate]:
        batch = []
        for facts in records:
            batch.append((facts, Position(FACTS, self.fact_offset)))
            self.fact_offset += 1
        self.records += batch
        return self.fold_records(batch)

    def fold_records(self, batch: list[tuple[list[dict[str, Any]], Position]]
                     ) -> list[ChannelUpdate]:
        out = fold_queue(batch, self.sites.get, namespace=NS)
        emitted = list(out.replay)
        for chunk in out.chunks:
            assert len(orjson.dumps(chunk.write)) < 1024 * 1024
            self.sites[queue_key(SITE)] = dict(chunk.write)
            emitted += chunk.emits
        for u in emitted:
            self.updates.append(u)
            if u.offset <= self.seen:
                continue  # a consumer drops offsets it already has
            assert u.offset == self.seen + 1, "offsets are gapless"
            self.seen = u.offset
            if u.kind == "queue.item":
                self.client[u.payload["comment_id"]] = u.payload
            else:
                assert u.kind == "queue.removed"
                self.client.pop(u.payload["comment_id"])
        return emitted

    def snapshot(self) -> dict[str, Any]:
        _, offset, snap = queries.moderation_snapshot(SITE, self.sites.get, namespace=NS)
        ModerationSnapshot.model_validate(snap)
        assert offset == self.seen
        return snap

    def queue(self) -> dict[str, dict[str, Any]]:
        snap = self.snapshot()
        live = {i["comment_id"]: i for i in snap["queue"]}
        assert live == self.client, "the snapshot equals the live state"
        posts = [i["posted_at"] for i in snap["queue"]]
        assert posts == sorted(posts), "oldest post first"
        return live

    def count(self, aid: str) -> int:
        return int(self.state[article_key(aid)]["count"])


def kinds(emits: list[Any]) -> list[str]:
    return [e.kind for e in emits if isinstance(e, ChannelUpdate)]


def test_a_pending_post_enters_the_queue_and_approval_takes_it_out_with_one_count() -> None:
    d = Desk()
    d.feed(published("a1"))
    emits = d.feed(posted("a1", "c1", status="pending"))
    assert kinds(emits) == []  # nothing for readers
    assert d.queue()["c1"]["status"] == "pending"
    assert d.updates[-1].channel == CHANNEL
    assert d.updates[-1].epoch == queries.moderation_snapshot(SITE, lambda _: None, namespace=NS)[0]
    assert d.count("a1") == 0
    assert d.snapshot()["depth"] == 1
    emits = d.feed(moderated("a1", "c1", "visible", "m1", seconds=90))
    assert kinds(emits) == ["comment.added", "count", "count"]
    assert d.count("a1") == 1
    assert d.queue() == {}
    assert d.updates[-1].kind == "queue.removed"
    assert d.updates[-1].payload == {"comment_id": "c1", "article_id": "a1", "status": "visible"}
    snap = d.snapshot()
    assert (snap["depth"], snap["decisions"], snap["last_decision_ms"],
            snap["median_decision_ms"]) == (0, 1, 90_000, 90_000)


def test_a_held_post_shows_why_ingest_held_it() -> None:
    d = Desk()
    d.feed(published("a1"), posted("a1", "c1", status="pending",
                                   held_for=("premoderated", "banned_word")))
    assert d.queue()["c1"]["reasons"] == ["premoderated", "banned_word"]
    d.feed(reported("a1", "c1", "r1", "abuse"))
    assert d.queue()["c1"]["reasons"] == ["premoderated", "banned_word", "abuse"]


def test_held_for_is_refused_on_a_visible_comment() -> None:
    raw = codec.encode(posted("a1", "c1", status="pending", held_for=("premoderated",)))
    bad = raw.replace(b'"status":"pending"', b'"status":"visible"')
    assert bad != raw
    with pytest.raises(EventDecodeError):
        codec.decode_comment_event(bad)


def test_a_rejected_or_deleted_pending_post_tells_the_article_channel_and_counts_nothing() -> None:
    # The author's page shows its pending comment as awaiting moderation: it must learn that
    # the comment went. Readers never held it, so no count changes.
    d = Desk()
    d.feed(published("a1"), posted("a1", "c1", status="pending"),
           posted("a1", "c2", status="pending"))
    emits = d.feed(moderated("a1", "c1", "hidden", "m1"))
    assert kinds(emits) == ["comment.removed"]
    removed = next(e for e in emits if isinstance(e, ChannelUpdate))
    assert (removed.channel, removed.payload) == (
        "article:a1", {"comment_id": "c1", "article_id": "a1", "reason": "hidden"})
    emits = d.feed(deleted("a1", "c2", "d1"))
    assert kinds(emits) == ["comment.removed"]
    assert d.count("a1") == 0
    # Hidden already: a later deletion tells readers nothing new.
    assert kinds(d.feed(deleted("a1", "c1", "d2"))) == []


def test_reports_send_a_comment_to_the_queue_at_the_threshold_and_repeats_change_nothing() -> None:
    d = Desk()
    d.feed(published("a1"), posted("a1", "c1"))
    d.feed(reported("a1", "c1", "r1"), reported("a1", "c1", "r2", "abuse"))
    assert d.queue() == {}
    d.feed(reported("a1", "c1", "r2", "off_topic"))  # the same reader again
    assert d.queue() == {}
    d.feed(reported("a1", "c1", "r3", "other"))
    item = d.queue()["c1"]
    assert (item["status"], item["report_count"], item["reasons"]) == (
        "reported", 3, ["spam", "abuse", "other"])
    d.feed(reported("a1", "c1", "r4"))
    assert d.queue()["c1"]["report_count"] == 4
    # "spam" again: one entry, now the newest.
    assert d.queue()["c1"]["reasons"] == ["abuse", "other", "spam"]
    assert d.count("a1") == 1
    d.feed(moderated("a1", "c1", "visible", "ok", seconds=5))
    assert d.queue() == {}
    assert d.count("a1") == 1  # approving a visible comment adds nothing
    d.feed(reported("a1", "c1", "r5"), reported("a1", "c1", "r6"))
    assert d.queue() == {}  # the answered reports do not count again
    d.feed(reported("a1", "c1", "r7"))
    assert d.queue()["c1"]["report_count"] == 7


def test_hidden_comments_stay_as_recently_hidden_and_unhiding_removes_them() -> None:
    d = Desk()
    d.feed(published("a1"), posted("a1", "c1"), posted("a1", "c2", status="pending", minute=1))
    d.feed(moderated("a1", "c1", "hidden", "h1", reason="rude"))
    d.feed(moderated("a1", "c2", "hidden", "h2", seconds=120))
    q = d.queue()
    assert (q["c1"]["status"], q["c1"]["reasons"]) == ("hidden", ["rude"])
    assert q["c2"]["status"] == "hidden"
    assert d.count("a1") == 0
    snap = d.snapshot()
    assert (snap["depth"], snap["hidden"], snap["decisions"]) == (0, 2, 1)
    d.feed(moderated("a1", "c1", "visible", "u1"))
    assert set(d.queue()) == {"c2"}
    assert d.updates[-1].payload["status"] == "visible"
    assert d.count("a1") == 1


def test_deletions_leave_the_queue() -> None:
    d = Desk()
    d.feed(published("a1"), posted("a1", "c1", status="pending"),
           posted("a1", "c2", status="pending", minute=1))
    d.feed(deleted("a1", "c1", "d1"))
    assert set(d.queue()) == {"c2"}
    assert d.updates[-1].payload["status"] == "deleted"
    d.feed(ArticleDeleted(subject="a1", data=ArticleRef(article_id="a1", site=SITE)))
    assert d.queue() == {}
    assert d.count("a1") == 0


def test_user_banned_is_folded_without_a_dead_letter_or_article_state() -> None:
    raw = codec.encode(banned("u-9"))
    event = decode_comments_record(raw, f"site:{SITE}".encode())
    assert isinstance(event, UserBanned)
    d = Desk()
    emits = d.feed(banned("u-9"))
    assert emits == []
    assert not any(k.startswith(("a/", "c/")) for k in d.state)
    assert not any(isinstance(e, Rejected) for e in emits)


def test_replays_re_emit_the_same_updates_and_refolded_facts_change_nothing() -> None:
    d = Desk()
    d.feed(published("a1"), *[posted("a1", f"c{i}", status="pending", minute=i)
                              for i in range(5)])
    d.feed(moderated("a1", "c0", "visible", "m0"))
    before = list(d.updates)
    stored = dict(d.sites)
    # The last fact record again (its offsets were not committed): the same updates.
    again = d.fold_records([d.records[-1]])
    assert again == before[-1:]
    assert d.sites == stored
    # The facts sent again as new records by a replayed fold batch: nothing changes.
    assert d.fold_facts([facts for facts, _ in d.records]) == []
    assert dict(d.sites)[queue_key(SITE)]["o"] == stored[queue_key(SITE)]["o"]
    d.queue()


def test_hidden_items_are_bounded_and_the_oldest_hidden_leaves() -> None:
    d = Desk()
    d.feed(published("a1"))
    d.feed(*[posted("a1", f"c{i}", minute=i) for i in range(MAX_HIDDEN + 3)])
    for i in range(MAX_HIDDEN + 3):
        d.feed(moderated("a1", f"c{i}", "hidden", f"h{i}", seconds=i))
    q = d.queue()
    assert len(q) == MAX_HIDDEN
    assert {"c0", "c1", "c2"}.isdisjoint(q)


def test_past_the_cap_items_are_counted_not_held_and_the_record_stays_under_1_mib() -> None:
    long = "\U0001F600" * 100
    facts = []
    for i in range(MAX_OPEN + 40):
        aid, cid = f"{'a' * 60}{i:04d}", f"{'c' * 60}{i:04d}"
        facts.append({"op": "item", "site": SITE, "article_id": aid, "comment_id": cid,
                      "posted_at": "2026-03-14T09:00:00Z", "version": 1,
                      "time": "2026-03-14T09:00:00Z",
                      "item": {"comment_id": cid, "article_id": aid,
                               "author": {"id": "u" * 64, "name": long[:80]},
                               "excerpt": long, "status": "pending",
                               "reasons": [long[:60]] * 3, "report_count": 0,
                               "posted_at": "2026-03-14T09:00:00Z"}})
    sites: dict[str, Record] = {}
    for offset, at in enumerate(range(0, len(facts), 32)):
        out = fold_queue([(facts[at:at + 32], Position(FACTS, offset))], sites.get,
                         namespace=NS)
        for chunk in out.chunks:
            assert len(orjson.dumps(chunk.write)) < 1024 * 1024
            sites[queue_key(SITE)] = dict(chunk.write)
    q = modqueue.read_queue(sites.get, SITE)
    assert q is not None
    snap = modqueue.snapshot(q, SITE)
    assert (len(snap["queue"]), snap["depth"], snap["not_shown"]) == (MAX_OPEN, MAX_OPEN + 40, 40)


OPS = st.lists(st.tuples(
    st.sampled_from(["post", "pend", "report", "approve", "hide", "delete"]),
    st.integers(0, 5), st.integers(0, 5)), max_size=60)


@settings(max_examples=60, deadline=None)
@given(OPS, st.integers(1, 4))
def test_any_sequence_keeps_the_snapshot_equal_to_the_live_queue_and_counts_exact(
        ops: list[tuple[str, int, int]], batch: int) -> None:
    d = Desk()
    d.feed(published("a1"))
    posted_ids: set[str] = set()
    pending: list[Any] = []
    n = 0
    for op, c, r in ops:
        cid = f"c{c}"
        n += 1
        if op in ("post", "pend"):
            if cid in posted_ids:
                continue
            posted_ids.add(cid)
            pending.append(posted("a1", cid, "pending" if op == "pend" else "visible", minute=c))
        elif cid not in posted_ids:
            continue
        elif op == "report":
            pending.append(reported("a1", cid, f"r{r}"))
        elif op == "approve":
            pending.append(moderated("a1", cid, "visible", f"m{n}"))
        elif op == "hide":
            pending.append(moderated("a1", cid, "hidden", f"m{n}"))
        else:
            pending.append(deleted("a1", cid, f"d{n}"))
        if len(pending) >= batch:
            d.feed(*pending)
            pending = []
    if pending:
        d.feed(*pending)
    q = d.queue()
    visible = sum(1 for k, v in d.state.items() if k.startswith("c/")
                  and v["status"] == "visible")
    assert d.count("a1") == visible
    waiting = {k.split("/")[2] for k, v in d.state.items() if k.startswith("c/")
               and v["status"] == "pending"}
    assert {c for c, i in q.items() if i["status"] == "pending"} == waiting
    assert d.snapshot()["depth"] == sum(1 for i in q.values() if i["status"] != "hidden")


def test_the_fullest_queue_record_stays_under_the_broker_limit() -> None:
    """Every bound at once, with the longest ids and 4-byte characters everywhere."""
    long = "\U0001F600" * 100
    aid, cid = "a" * 64, "c" * 64
    item = {"comment_id": cid, "article_id": aid, "author": {"id": "u" * 64, "name": long[:80]},
            "excerpt": long + "…", "status": "pending", "reasons": [long[:60]] * 3,
            "report_count": 10**9, "posted_at": "2026-03-14T09:00:00.123456Z"}
    entry = f"{aid}/{cid}"
    row = [f"{10**19:020d}|{entry}", entry, 10**12, item, 10**16]
    update = {"offset": 10**9, "kind": "queue.item", "payload": item,
              "time": "2026-03-14T09:00:00.123456Z"}
    fullest = {**new_queue("s" * 64, NS), "o": 10**9,
               "items": [row] * (MAX_OPEN + MAX_HIDDEN),
               "gone": [[entry, 10**12]] * modqueue.KEEP_TOMBSTONES,
               "more": [[entry, 10**12]] * modqueue.MAX_MORE, "decided": 10**9,
               "dt": [10**10] * modqueue.KEEP_DECISIONS, "seen": 10**12, "emit": 10**12,
               "last": [update] * (modqueue.CHUNK_UPDATES - 1 + 2 * modqueue.FACTS_PER_RECORD)}
    assert len(orjson.dumps(fullest)) < 1024 * 1024 - 4096


def facts_of_ops(ops: list[tuple[str, int, int]]) -> list[dict[str, Any]]:
    """The queue facts a random run of posts, reports and decisions makes, in order."""
    d = Desk()
    d.feed(published("a1"))
    posted_ids: set[str] = set()
    for n, (op, c, r) in enumerate(ops):
        cid = f"c{c}"
        if op in ("post", "pend"):
            if cid not in posted_ids:
                posted_ids.add(cid)
                d.feed(posted("a1", cid, "pending" if op == "pend" else "visible", minute=c))
        elif cid in posted_ids:
            d.feed({"report": reported("a1", cid, f"r{r}"),
                    "approve": moderated("a1", cid, "visible", f"m{n}"),
                    "hide": moderated("a1", cid, "hidden", f"m{n}"),
                    "delete": deleted("a1", cid, f"d{n}")}[op])
    return [f for facts, _ in d.records for f in facts]


def cut_records(n: int, sizes: list[int], start: int = 0) -> list[list[int]]:
    out, at, i = [], start, 0
    while at < n:
        size = sizes[i % len(sizes)]
        out.append(list(range(at, min(n, at + size))))
        at += size
        i += 1
    return out


class QueueSite:
    """The queue agent over fact records (one fact each), logging what it sends in order."""

    def __init__(self, facts: list[dict[str, Any]]) -> None:
        self.facts = facts
        self.store: dict[str, Record] = {}
        #: (batch number, a record write or an update), in the order the producer takes them.
        self.log: list[tuple[int, tuple[str, Record] | ChannelUpdate]] = []
        self.last_offset: list[int] = []

    def feed(self, offsets: list[int]) -> None:
        n = len(self.last_offset)
        out = fold_queue([([self.facts[o]], Position(FACTS, o)) for o in offsets],
                         self.store.get, namespace=NS)
        self.log += [(n, u) for u in out.replay]
        for chunk in out.chunks:
            write = (queue_key(SITE), dict(chunk.write))
            self.store[write[0]] = write[1]
            self.log.append((n, write))  # written, and acknowledged before its updates
            self.log += [(n, u) for u in chunk.emits]
        self.last_offset.append(offsets[-1])

    def snapshot(self) -> dict[str, Any]:
        return queries.moderation_snapshot(SITE, self.store.get, namespace=NS)[2]


@settings(max_examples=120, deadline=None)
@given(OPS, st.data())
def test_the_queue_is_exact_across_crashes_and_other_batch_cuts(
        ops: list[tuple[str, int, int]], data: st.DataObject) -> None:
    facts = facts_of_ops(ops)
    one_by_one = QueueSite(facts)
    for batch in cut_records(len(facts), [1]):
        one_by_one.feed(batch)

    sizes = data.draw(st.lists(st.integers(1, 40), min_size=1, max_size=4))
    crashed = QueueSite(facts)
    for batch in cut_records(data.draw(st.integers(0, len(facts))), sizes):
        crashed.feed(batch)
    kept = data.draw(st.integers(0, len(crashed.log)))
    survivor = QueueSite(facts)
    landed: list[ChannelUpdate] = []
    for _, item in crashed.log[:kept]:
        if isinstance(item, ChannelUpdate):
            landed.append(item)
        else:
            survivor.store[item[0]] = item[1]
    # Only batches whose every write and update landed are committed.
    done = 0
    while done < len(crashed.last_offset) and all(
            i < kept for i, (m, _) in enumerate(crashed.log) if m == done):
        done += 1
    committed = crashed.last_offset[done - 1] + 1 if done else 0
    start = data.draw(st.integers(0, committed))
    for batch in cut_records(len(facts), data.draw(
            st.lists(st.integers(1, 40), min_size=1, max_size=4)), start):
        survivor.feed(batch)

    assert survivor.snapshot() == one_by_one.snapshot()
    seen: dict[int, ChannelUpdate] = {}
    for update in [*landed, *(u for _, u in survivor.log if isinstance(u, ChannelUpdate))]:
        first = seen.setdefault(update.offset, update)
        assert first == update, "a replay re-used an offset for a different update"
    assert sorted(seen) == list(range(1, len(seen) + 1)), "no gaps"
    client: dict[str, dict[str, Any]] = {}
    for offset in sorted(seen):
        u = seen[offset]
        if u.kind == "queue.item":
            client[u.payload["comment_id"]] = u.payload
        else:
            client.pop(u.payload["comment_id"])
    assert client == {i["comment_id"]: i for i in survivor.snapshot()["queue"]}
