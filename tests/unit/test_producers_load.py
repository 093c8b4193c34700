"""The load generator's script: deterministic, a sensible mix, ids unique per run."""

from __future__ import annotations

from collections import Counter

import pytest

from commentfeed.events import CommentEdited, CommentPosted, CommentVoted, utc_now
from producers.load import LoadPlan, LoadScript, LoadStats


def run(plan: LoadPlan, n: int) -> list[CommentPosted | CommentEdited | CommentVoted]:
    script = LoadScript(plan)
    now = utc_now()
    events = []
    for _ in range(n):
        event = script.next_event(now)
        assert isinstance(event, CommentPosted | CommentEdited | CommentVoted)
        events.append(event)
    return events


def test_the_same_seed_makes_the_same_events() -> None:
    plan = LoadPlan(rate=100, duration_s=1, articles=4, seed=3, run_id="r1")
    first = [(e.type, e.data.comment_id, e.data.article_id) for e in run(plan, 300)]
    second = [(e.type, e.data.comment_id, e.data.article_id) for e in run(plan, 300)]
    assert first == second


def test_mostly_posts_with_some_votes_edits_and_replies() -> None:
    plan = LoadPlan(rate=100, duration_s=1, articles=5, seed=11, run_id="r2")
    events = run(plan, 3000)
    kinds = Counter(e.type for e in events)
    assert kinds["comment.posted"] > 0.75 * len(events)
    assert 0.05 * len(events) < kinds["comment.voted"] < 0.15 * len(events)
    assert 0 < kinds["comment.edited"] < 0.1 * len(events)
    posts = [e for e in events if isinstance(e, CommentPosted)]
    assert len({p.data.comment_id for p in posts}) == len(posts)
    replies = [p for p in posts if p.data.parent_id is not None]
    assert 0.2 * len(posts) < len(replies) < 0.4 * len(posts)
    # Votes, edits and replies only name comments already posted on the same article.
    seen: set[tuple[str, str]] = set()
    for e in events:
        if isinstance(e, CommentPosted):
            if e.data.parent_id:
                assert (e.data.parent_id, e.data.article_id) in seen
            seen.add((e.data.comment_id, e.data.article_id))
        else:
            assert (e.data.comment_id, e.data.article_id) in seen
    assert {e.data.article_id for e in events} == set(plan.article_ids())


def test_articles_come_first_and_belong_to_the_run() -> None:
    plan = LoadPlan(rate=10, duration_s=1, articles=3, site="bench", run_id="abc")
    articles = LoadScript(plan).articles(utc_now())
    assert [a.data.article_id for a in articles] == ["load-abc-a0", "load-abc-a1",
                                                     "load-abc-a2"]
    assert {a.data.site for a in articles} == {"bench"}


def test_plan_totals_and_validation() -> None:
    assert LoadPlan(rate=2500, duration_s=2).total == 5000
    assert LoadPlan(rate=0.1, duration_s=1).total == 1
    with pytest.raises(ValueError, match="positive"):
        LoadPlan(rate=0, duration_s=1)
    with pytest.raises(ValueError, match="room for posts"):
        LoadPlan(rate=1, duration_s=1, vote_share=0.6, edit_share=0.4)


def test_stats_summary_reports_rate_and_errors() -> None:
    stats = LoadStats(plan=LoadPlan(rate=100, duration_s=2, run_id="s"), articles=["a"],
                      sent=200, acked=198, failed=2, elapsed_s=2.0)
    stats.errors["KafkaTimeoutError"] = 2
    text = stats.summary()
    assert "sent 200, acked 198, failed 2" in text
    assert "99 events/s achieved (target 100/s" in text
    assert "KafkaTimeoutError x2" in text
