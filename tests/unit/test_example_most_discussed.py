"""The most-discussed example's pure fold: right under duplicates, replays and any order."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from commentfeed.events import (
    Author,
    CommentEvent,
    CommentPosted,
    CommentPostedData,
    CommentVoted,
    CommentVotedData,
    FeedCount,
    FeedCountData,
)
from examples.most_discussed.__main__ import render
from examples.most_discussed.view import Row, View, counts, expire, fold, top

NOW = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)


def posted(comment_id: str, article_id: str, minutes_ago: float,
           status: str = "visible") -> CommentPosted:
    at = NOW - timedelta(minutes=minutes_ago)
    return CommentPosted(subject=article_id, time=at, data=CommentPostedData(
        comment_id=comment_id, article_id=article_id, site="demo",
        author=Author(id="u-1", name="Reader"), body="A comment.", posted_at=at,
        status="pending" if status == "pending" else "visible"))


def count(article_id: str, value: int, offset: int, epoch: str = "e1") -> FeedCount:
    return FeedCount(subject=article_id, data=FeedCountData(
        article_id=article_id, site="demo", count=value, epoch=epoch, offset=offset))


def fold_all(records: list[FeedCount | CommentEvent], view: View | None = None) -> View:
    view = view or View()
    for record in records:
        view = fold(view, record)
    return view


def test_counts_keep_the_highest_channel_offset() -> None:
    view = fold_all([count("a", 1, 1), count("a", 3, 5), count("a", 2, 3), count("b", 7, 9)])
    assert counts(view) == {"a": 3, "b": 7}
    assert view.counts["a"].offset == 5


def test_a_new_epoch_replaces_the_count_whatever_its_offset() -> None:
    view = fold_all([count("a", 40, 90), count("a", 2, 3, epoch="e2")])
    assert counts(view) == {"a": 2}
    view = fold_all([count("a", 2, 3, epoch="e2"), count("a", 3, 4, epoch="e2")])
    assert counts(view) == {"a": 3}


def test_a_record_that_changes_nothing_returns_the_same_view() -> None:
    view = fold_all([count("a", 3, 5), posted("c1", "a", 5)])
    assert fold(view, count("a", 2, 4)) is view
    assert fold(view, count("a", 3, 5)) is view
    assert fold(view, posted("c1", "a", 5)) is view
    assert fold(view, posted("c9", "a", 5, status="pending")) is view
    vote = CommentVoted(subject="a", data=CommentVotedData(
        comment_id="c1", article_id="a", site="demo", voter_id="u-2", value=1))
    assert fold(view, vote) is view


def test_top_ranks_by_comments_in_the_window() -> None:
    view = fold_all([
        posted("a1", "a", 10), posted("a2", "a", 20), posted("a3", "a", 90),
        posted("b1", "b", 5), posted("b2", "b", 6), posted("b3", "b", 7),
        posted("c1", "c", 30), posted("d1", "d", 61),
        count("a", 12, 4), count("c", 1, 1),
    ])
    assert top(view, NOW) == [
        Row("b", 3, None), Row("a", 2, 12), Row("c", 1, 1),
    ]
    assert top(view, NOW, n=1) == [Row("b", 3, None)]
    # Two hours on, nothing is recent any more.
    assert top(view, NOW + timedelta(hours=2)) == []


def test_ties_go_to_the_bigger_total_then_the_smaller_id() -> None:
    view = fold_all([posted("x1", "x", 1), posted("y1", "y", 1), posted("z1", "z", 1),
                     count("z", 5, 5)])
    assert [r.article_id for r in top(view, NOW)] == ["z", "x", "y"]


def test_expire_drops_old_posts_and_keeps_counts() -> None:
    view = fold_all([posted("a1", "a", 10), posted("a2", "a", 70), posted("b1", "b", 80),
                     count("b", 1, 1)])
    expired = expire(view, NOW)
    assert {a: set(p) for a, p in expired.posts.items()} == {"a": {"a1"}}
    assert counts(expired) == {"b": 1}
    assert expire(expired, NOW) is expired
    assert top(expired, NOW) == top(view, NOW)


def test_render_lists_rows_and_says_when_empty() -> None:
    text = render([Row("harbour-bridge-reopens", 3, 4), Row("b", 1, None)], NOW,
                  timedelta(hours=1))
    lines = text.splitlines()
    assert lines[0] == "most discussed, 60 min to 12:00:00 UTC"
    assert lines[1].split() == ["1.", "harbour-bridge-reopens", "3", "new", "4", "total"]
    assert lines[2].split() == ["2.", "b", "1", "new", "?", "total"]
    assert "no comments" in render([], NOW, timedelta(hours=1))


_articles = st.sampled_from(["a", "b", "c"])
_records = st.lists(
    st.one_of(
        st.builds(lambda a, off: count(a, off * 2, off), _articles, st.integers(1, 20)),
        st.builds(lambda a, i: posted(f"{a}-{i}", a, i * 7), _articles, st.integers(0, 12)),
    ),
    max_size=40,
)


@given(_records, st.randoms(use_true_random=False))
def test_any_order_and_any_replay_give_the_same_view(
    records: list[FeedCount | CommentEvent], rng: random.Random,
) -> None:
    view = fold_all(records)
    shuffled = list(records)
    rng.shuffle(shuffled)

    assert fold_all(shuffled) == view
    assert fold_all(records, view) == view  # a full replay on top changes nothing

    expected_counts: dict[str, int] = {}
    best: dict[str, int] = {}
    for r in records:
        if isinstance(r, FeedCount) and r.data.offset > best.get(r.data.article_id, -1):
            best[r.data.article_id] = r.data.offset
            expected_counts[r.data.article_id] = r.data.count
    assert counts(view) == expected_counts
    unique_recent = {
        (r.data.article_id, r.data.comment_id) for r in records
        if isinstance(r, CommentPosted) and r.data.posted_at >= NOW - timedelta(hours=1)
    }
    assert sum(row.recent_comments for row in top(view, NOW, n=100)) == len(unique_recent)
