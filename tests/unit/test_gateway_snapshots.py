"""Hot snapshots: updates folded into a channel's snapshot, and where that must stop."""

from __future__ import annotations

from typing import Any

from commentfeed.channels import ChannelUpdate, UpdateKind
from gateway.history import History
from gateway.snapshots import fold


def comment(cid: str, minute: int, **extra: Any) -> dict[str, Any]:
    return {"comment_id": cid, "article_id": "42", "parent_id": None,
            "author": {"id": "u", "name": "U"}, "body": cid,
            "posted_at": f"2026-03-14T09:{minute:02d}:00Z", "edited_at": None, "score": 0,
            "depth": 0, **extra}


def article(*comments: dict[str, Any], cursor: str | None = None) -> dict[str, Any]:
    return {"article": None, "count": len(comments), "comments": list(comments),
            "cursor": cursor}


def upd(kind: UpdateKind, payload: dict[str, Any], offset: int = 1) -> ChannelUpdate:
    return ChannelUpdate("article:42", "e1", offset, kind, payload)


def ids(state: dict[str, Any] | None) -> list[str]:
    assert state is not None
    return [c["comment_id"] for c in state["comments"]]


def test_a_new_comment_is_last_and_a_returning_one_goes_back_to_its_place() -> None:
    state: dict[str, Any] | None = article(comment("a", 1), comment("b", 2), comment("d", 4))
    assert state is not None
    state = fold("article", state, upd("comment.added", comment("e", 5)), 50)
    assert ids(state) == ["a", "b", "d", "e"]
    # Restored or approved after waiting: where the cold snapshot (and the widget) lists it.
    assert state is not None
    state = fold("article", state, upd("comment.added", comment("c", 3)), 50)
    assert ids(state) == ["a", "b", "c", "d", "e"]
    # Same time: the id decides, as in widgets.js.
    assert state is not None
    state = fold("article", state, upd("comment.added", comment("bb", 2)), 50)
    assert ids(state) == ["a", "b", "bb", "c", "d", "e"]
    # Before every listed comment, with nothing older: first.
    assert state is not None
    state = fold("article", state, upd("comment.added", comment("x", 0)), 50)
    assert ids(state) == ["x", "a", "b", "bb", "c", "d", "e"]


def test_a_returning_comment_before_the_listed_ones_needs_a_fresh_snapshot_if_older_exist(
) -> None:
    # Its place may be in the older pages or just after them: only the streams know.
    state = article(comment("b", 2), comment("c", 3), cursor="opaque")
    assert fold("article", state, upd("comment.added", comment("a", 1)), 50) is None
    state = article(comment("b", 2), cursor="opaque")
    assert ids(fold("article", state, upd("comment.added", comment("d", 4)), 50)) == ["b", "d"]


def test_a_comment_without_a_readable_time_makes_the_snapshot_unusable() -> None:
    state = article(comment("a", 1))
    assert fold("article", state, upd("comment.added", comment("b", 2, posted_at="soon")),
                50) is None


def test_a_comment_added_again_is_replaced_in_place() -> None:
    state = article(comment("a", 1), comment("b", 2))
    again = fold("article", state, upd("comment.added", comment("a", 1, body="again")), 50)
    assert ids(again) == ["a", "b"]
    assert again is not None
    assert again["comments"][0]["body"] == "again"


def test_outgrowing_the_limit_makes_the_snapshot_unusable() -> None:
    state = article(comment("a", 1), comment("b", 2))
    assert fold("article", state, upd("comment.added", comment("c", 3)), 2) is None


def test_edits_removals_scores_counts_and_meta() -> None:
    state: dict[str, Any] | None = article(comment("a", 1), comment("b", 2))
    steps = [
        upd("comment.updated", comment("a", 1, body="edited", edited_at="2026-03-14T10:00:00Z")),
        upd("comment.score", {"comment_id": "b", "article_id": "42", "score": 3}),
        upd("comment.removed", {"comment_id": "a", "article_id": "42", "reason": "hidden"}),
        upd("count", {"article_id": "42", "count": 1}),
        upd("article", {"article_id": "42", "site": "demo", "title": "T", "url": "http://x",
                        "author": "A", "published_at": None, "closed": True, "deleted": False}),
        upd("comment.score", {"comment_id": "zz", "article_id": "42", "score": 9}),
    ]
    for step in steps:
        assert state is not None
        state = fold("article", state, step, 50)
    assert state is not None
    assert ids(state) == ["b"]
    assert state["comments"][0]["score"] == 3
    assert state["count"] == 1
    assert state["article"]["closed"] is True


def test_an_edit_before_removal_is_kept() -> None:
    state = article(comment("a", 1))
    edited = fold("article", state, upd("comment.updated", comment("a", 1, body="new")), 50)
    assert edited is not None
    assert edited["comments"][0]["body"] == "new"


def test_count_and_recent_channels_take_the_latest_value() -> None:
    count = fold("count", {"article_id": "42", "count": 1},
                 upd("count", {"article_id": "42", "count": 2}), 50)
    assert count == {"article_id": "42", "count": 2}
    items = [{"comment_id": "c"}]
    recent = fold("recent", {"site": "demo", "items": []},
                  upd("recent", {"site": "demo", "items": items}), 50)
    assert recent == {"site": "demo", "items": items}


def test_a_moderation_queue_is_fetched_again_after_an_update_never_folded() -> None:
    # Its order (oldest post first) and figures (depth, decision times) are the streams' to
    # compute: the gateway asks again.
    queue = {"site": "demo", "queue": [], "depth": 0}
    item = {"comment_id": "c", "article_id": "42", "status": "pending"}
    assert fold("moderation", queue, upd("queue.item", item), 50) is None


def test_a_malformed_payload_makes_the_snapshot_unusable_instead_of_raising() -> None:
    assert fold("article", article(), upd("comment.added", {"body": "no id"}), 50) is None
    assert fold("article", {"comments": 5}, upd("comment.removed", {"comment_id": "a"}), 50) is None
    assert fold("count", {}, upd("count", {}), 50) is None


# -- the resume history ------------------------------------------------------------------------


def filled(size: int, ttl: float | None, offsets: range, start: float = 0.0) -> History:
    ring = History(size, ttl)
    for i, off in enumerate(offsets):
        ring.append(off, start + i, f"u{off}".encode())
    return ring


def test_history_replays_everything_after_a_position_or_nothing() -> None:
    ring = filled(5, None, range(1, 11))  # keeps 6..10
    assert ring.after(7, 10, 100.0) == [b"u8", b"u9", b"u10"]
    assert ring.after(5, 10, 100.0) == [b"u6", b"u7", b"u8", b"u9", b"u10"]
    assert ring.after(4, 10, 100.0) is None  # 5 is gone: never a partial replay
    assert ring.after(10, 10, 100.0) == []
    assert ring.after(11, 10, 100.0) is None  # ahead of the channel


def test_history_entries_expire_by_age() -> None:
    ring = filled(100, 30.0, range(1, 6), start=0.0)  # appended at t=0..4
    assert ring.after(2, 5, 32.5) is None  # offset 3 (t=2) has expired
    assert ring.after(4, 5, 32.5) == [b"u5"]
    assert len(ring) == 2


def test_a_removed_comment_with_replies_stays_as_a_placeholder_until_its_last_reply_goes(
) -> None:
    state: dict[str, Any] | None = article(
        comment("a", 1), comment("b", 2, parent_id="a", depth=1),
        comment("c", 3, parent_id="b", depth=2), comment("d", 4))
    removed = [("a", ["a", "b", "c", "d"]), ("b", ["a", "b", "c", "d"]),
               ("d", ["a", "b", "c"]), ("c", [])]
    for offset, (cid, left) in enumerate(removed, 1):
        assert state is not None
        state = fold("article", state, upd("comment.removed", {
            "comment_id": cid, "article_id": "42", "reason": "deleted"}, offset), 50)
        assert ids(state) == left, cid
    assert state is not None


def test_a_placeholder_keeps_the_place_and_nothing_the_comment_said() -> None:
    state = fold("article", article(comment("a", 1, body="secret"),
                                    comment("b", 2, parent_id="a", depth=1)),
                 upd("comment.removed", {"comment_id": "a", "article_id": "42",
                                         "reason": "hidden"}), 50)
    assert state is not None
    assert state["comments"][0] == {"comment_id": "a", "article_id": "42", "parent_id": None,
                                    "posted_at": "2026-03-14T09:01:00Z", "removed": True}
    assert state["comments"][1]["parent_id"] == "a"
    scored = fold("article", state, upd("comment.score", {
        "comment_id": "a", "article_id": "42", "score": 5}, 2), 50)
    assert scored is not None
    assert "score" not in scored["comments"][0]  # a placeholder shows no score
