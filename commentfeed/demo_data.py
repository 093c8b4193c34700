"""The demo data: a small news site's articles and comments, in the project's own words.

The lead article has a four-comment thread nested three deep (a top-level comment, a reply, a
reply to the reply, and a second top-level comment); the other articles, one or more in each
section, carry a few comments each, so the front page has counts to show and the site-wide
Recent Comments sidebar is full. Event ids are fixed, so replaying the demo twice changes
nothing (the streams drop duplicates).

Sections, standfirsts and body text are the site's own content (its CMS), served by the demo
site (``producers/demo_site.py``); the events carry what commentfeed needs (title, author, url).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class DemoArticle:
    article_id: str
    section: str
    title: str
    author: str
    standfirst: str
    body: tuple[str, ...]
    published_at: datetime


#: The site's sections in masthead order; each has at least one article.
SECTIONS = ("City", "Transport", "Culture", "Opinion")

_ARTICLE_ROWS = [
    (LEAD_ARTICLE_ID, "Transport",
     "Harbour Bridge Reopens After Two-Year Rebuild; Tolls Stay Frozen", "Mara Quill",
     "The new deck carries traffic again, with a separated cycle lane and tolls held at their "
     "old level until spring.",
     ("The Harbour Bridge carried its first traffic in two years on Saturday morning, when the "
      "barriers at the east ramp came down a few minutes after six and a short queue of "
      "delivery vans rolled across the new deck.",
      "The rebuild replaced the whole road deck and both expansion joints, and added a cycle "
      "lane separated from traffic by a low kerb. Engineers had planned for twenty months; "
      "late steel shipments stretched the work to just over two years.",
      "Tolls stay at their pre-closure level until at least the spring. The transport "
      "committee said the project finished below its estimate and that part of the unspent "
      "contingency will cover the freeze, a decision it will review with the next budget.",
      "For the east side, the reopening ends a long stretch of detours through the ring road "
      "and busy mornings at the ferry pier. Bus routes 12 and 14 return to the bridge from "
      "Monday.",
      "The city plans a walking day on the bridge before the harbour festival, with the road "
      "closed to cars for the afternoon.")),
    ("tram-line-extension", "Transport", "City Approves Tram Line Extension to the Airport",
     "Ivo Brandt",
     "Six new stops and a depot by the cargo terminal; the first trams are due in four years.",
     ("The council voted on Thursday to extend the number 3 tram from the university to the "
      "airport, adding six stops and a depot beside the cargo terminal.",
      "Construction starts next year. The route follows the old freight track for most of its "
      "length, which the planning office says keeps the cost below that of a new road lane.",
      "Opponents on the council asked for the money to go to buses first; the motion passed "
      "with a majority of seven.")),
    ("night-market-returns", "Culture", "Riverside Night Market Returns for the Summer",
     "Ines Kalder",
     "Forty stalls, three stages and a later closing time on Fridays.",
     ("The riverside night market opens again on the first Friday of June, with forty stalls "
      "along the embankment and music on three small stages.",
      "This year the market stays open until midnight on Fridays. Organisers say they asked "
      "the stallholders before the council, and the stallholders asked for more hours.")),
    ("library-late-hours", "City", "Central Library Stays Open Until Midnight in Exam Season",
     "Tomas Reyd",
     "A six-week trial of late opening, staffed by volunteers and two extra librarians.",
     ("From next Monday the central library keeps its reading rooms open until midnight, for "
      "six weeks around the university exams.",
      "The trial costs less than expected because the heating and lighting were already "
      "running for the cleaning crews; two extra librarians and a rota of volunteers cover "
      "the evenings.",
      "If the rooms are full, the library says, the late hours could return every spring.")),
    ("parking-minimums-opinion", "Opinion",
     "Opinion: Drop the Parking Minimums and Let the Old Town Breathe", "Selma Okafor",
     "Every new flat in the old town must come with a parking space. That rule is older than "
     "most of the cars it was written for.",
     ("The rule that every new flat in the old town needs its own parking space was written "
      "when the tram ran every twenty minutes and the bridge was free. Neither is true now.",
      "Builders tell the same story: the space under a building costs more than the flat "
      "above it, so fewer flats get built, and those that do cost more.",
      "Let the buyers decide whether they want a parking space. The council can keep the "
      "rule for the ring road, where the buses do not reach.")),
]

#: Every demo article, lead first.
ARTICLES = tuple(
    DemoArticle(article_id=aid, section=section, title=title, author=author,
                standfirst=standfirst, body=body, published_at=_T0 + timedelta(minutes=i))
    for i, (aid, section, title, author, standfirst, body) in enumerate(_ARTICLE_ROWS)
)

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
    ("c-4001", "library-late-hours", None, "u-jonas", "Jonas P.",
     "Half my year revises in the station café because it is warm and open late. This is "
     "better for everyone, the café included.", 110),
    ("c-4002", "library-late-hours", "c-4001", "u-ruth", "Ruth at the desk",
     "We will have the ground floor and the quiet room open. Bring a jumper after ten.", 118),
    ("c-5001", "parking-minimums-opinion", None, "u-keller", "Keller",
     "Easy to say if you never carry a week of shopping up the hill. Some of us need the car.",
     130),
    ("c-5002", "parking-minimums-opinion", "c-5001", "u-sofia", "Sofia M",
     "Nobody is taking your car away; the column is about whether every flat must pay for a "
     "space, not whether anyone may have one.", 138),
    ("c-5003", "parking-minimums-opinion", None, "u-tarek", "Tarek",
     "The garage under our block is half empty and the service charge pays for all of it.", 150),
]

#: Visible demo comments per article: what ``commentfeed up`` waits to see in the streams.
COMMENT_COUNTS: dict[str, int] = {
    article.article_id: 0 for article in ARTICLES
} | dict(Counter(row[1] for row in _COMMENTS))


def article(article_id: str) -> DemoArticle | None:
    """The demo article with this id, if there is one."""
    return next((a for a in ARTICLES if a.article_id == article_id), None)


def demo_events() -> list[InputEvent]:
    """Every demo event in publish order (articles first, then comments by time)."""
    out: list[InputEvent] = []
    for item in ARTICLES:
        out.append(ArticlePublished(
            id=f"demo-article-{item.article_id}",
            source="commentfeed/demo",
            subject=item.article_id,
            time=item.published_at,
            data=ArticleData(
                article_id=item.article_id, site=SITE, title=item.title,
                url=f"https://news.example/{item.article_id}", author=item.author,
                published_at=item.published_at,
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
