"""The demo data: one article page's shape in the project's own words.

A lead article with a four-comment thread nested three deep (a top-level comment, a reply, a
reply to the reply, and a second top-level comment), plus comments on two other articles so
the site-wide Recent Comments sidebar has five lines. Event ids are fixed, so replaying the
demo twice changes nothing (the streams drop duplicates).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from commentfeed.events import (
    ArticleData,
    ArticlePublished,
    Author,
    CommentPosted,
    CommentPostedData,
    InputEvent,
)

SITE = "demo"
LEAD_ARTICLE_ID = "harbour-bridge-reopens"
_T0 = datetime(2026, 3, 14, 9, 0, tzinfo=UTC)

_ARTICLES = [
    (LEAD_ARTICLE_ID, "Harbour Bridge Reopens After Two-Year Rebuild; Tolls Stay Frozen",
     "Mara Quill"),
    ("tram-line-extension", "City Approves Tram Line Extension to the Airport", "Ivo Brandt"),
    ("night-market-returns", "Riverside Night Market Returns for the Summer", "Ines Kalder"),
]

#: (comment_id, article_id, parent_id, author_id, author_name, body, minutes after _T0)
_COMMENTS = [
    ("c-1001", LEAD_ARTICLE_ID, None, "u-ferro", "Ferro_K",
     "Good news for the east side. Two years of detours added forty minutes to my commute, and "
     "the ferry queue was a daily lottery. Frozen tolls are the part I did not expect; the "
     "council must have found the money somewhere else, and I would like to know where.", 30),
    ("c-1002", LEAD_ARTICLE_ID, "c-1001", "u-lindqvist", "lindqvist",
     "The budget papers say the rebuild came in under estimate, so part of the reserve went to "
     "the toll freeze. It is only guaranteed until next spring though.", 42),
    ("c-1003", LEAD_ARTICLE_ID, "c-1002", "u-oduya", "Oduya Works",
     "I worked on the deck replacement crew. The schedule slipped twice because of the steel "
     "deliveries, not the labour. Glad to see it open before the festival weekend.", 55),
    ("c-1004", LEAD_ARTICLE_ID, None, "u-petra", "Petra S.",
     "Cyclists finally get a separated lane. That alone was worth the wait.", 70),
    ("c-2001", "tram-line-extension", None, "u-hollis", "Hollis",
     "An airport tram is overdue; the bus takes an hour when the ring road jams.", 80),
    ("c-3001", "night-market-returns", None, "u-amara", "Amara_T",
     "The dumpling stall by the east steps is back, which is all I needed to hear.", 95),
]


def demo_events() -> list[InputEvent]:
    """Every demo event in publish order (articles first, then comments by time)."""
    out: list[InputEvent] = []
    for i, (article_id, title, author) in enumerate(_ARTICLES):
        out.append(ArticlePublished(
            id=f"demo-article-{article_id}",
            source="commentfeed/demo",
            subject=article_id,
            time=_T0 + timedelta(minutes=i),
            data=ArticleData(
                article_id=article_id, site=SITE, title=title,
                url=f"https://news.example/{article_id}", author=author,
                published_at=_T0 + timedelta(minutes=i),
            ),
        ))
    for comment_id, article_id, parent_id, author_id, name, body, minutes in _COMMENTS:
        at = _T0 + timedelta(minutes=minutes)
        out.append(CommentPosted(
            id=f"demo-{comment_id}",
            source="commentfeed/demo",
            subject=article_id,
            time=at,
            data=CommentPostedData(
                comment_id=comment_id, article_id=article_id, site=SITE, parent_id=parent_id,
                author=Author(id=author_id, name=name), body=body, posted_at=at,
                status="visible",
            ),
        ))
    return out
