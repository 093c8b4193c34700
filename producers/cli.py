"""``commentfeed ingest | publish | demo | load``: the producers' commands.

Settings come from ``COMMENTFEED_*`` like every other command. Failures (broker unreachable,
an event refused) print one clear line and exit non-zero; none prints a traceback.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import click
import uvicorn

from commentfeed.codec import loads
from commentfeed.demo_data import demo_events
from commentfeed.errors import CommentfeedError
from commentfeed.events import ARTICLE_EVENT_TYPES, InputEvent
from commentfeed.settings import Settings
from producers.event_input import EVENT_TYPES, EventInputError, event_from_flags, event_from_json
from producers.publisher import Delivery, Publisher


def _delivery_json(delivery: Delivery) -> str:
    return json.dumps({
        "topic": delivery.topic, "partition": delivery.partition, "offset": delivery.offset,
        "event_id": delivery.event_id, "event_type": delivery.event_type, "key": delivery.key,
    })


# -- ingest ------------------------------------------------------------------------------------

@click.command()
@click.option("--rate-limit", type=click.FloatRange(min=0, min_open=True), default=1.0,
              show_default=True,
              help="Writes per second refilled per reader (per process).")
@click.option("--burst", type=click.IntRange(min=1), default=20, show_default=True,
              help="Writes a reader may make at once.")
@click.option("--max-body-bytes", type=click.IntRange(min=1024), default=32 * 1024,
              show_default=True, help="Largest request body accepted (413 above).")
@click.option("--access-log/--no-access-log", default=False, show_default=True)
def ingest(rate_limit: float, burst: int, max_body_bytes: int, access_log: bool) -> None:
    """Run the HTTP ingest API (and the demo page in demo mode) on HOST:INGEST_PORT.

    Needs COMMENTFEED_JWT_SECRET (readers' tokens) and COMMENTFEED_SERVICE_TOKEN (the CMS).
    """
    from producers.app import IngestLimits, create_app

    settings = Settings()
    limits = IngestLimits(max_body_bytes=max_body_bytes, rate_per_s=rate_limit, burst=burst)
    try:
        app = create_app(settings, limits=limits)
    except CommentfeedError as exc:
        raise click.ClickException(str(exc)) from None
    server = uvicorn.Server(uvicorn.Config(
        app, host=settings.host, port=settings.ingest_port, access_log=access_log,
        log_level=settings.log_level.lower(), lifespan="on",
    ))
    # uvicorn shuts down gracefully on SIGTERM/SIGINT and then re-raises the signal to the
    # handler that was installed before it; a quiet one lets a clean stop exit 0.
    stopped_by: list[int] = []

    def note(sig: int, _: FrameType | None) -> None:
        stopped_by.append(sig)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, note)
    server.run()
    if not server.started:
        raise click.ClickException(
            f"the ingest API did not start (is Kafka reachable at {settings.kafka_bootstrap}?)"
        )


# -- publish -----------------------------------------------------------------------------------

async def _publish(settings: Settings, events: list[InputEvent]) -> list[Delivery]:
    async with Publisher(settings) as publisher:
        return await publisher.publish_many(events)


def _run(coro: Any) -> Any:
    try:
        return asyncio.run(coro)
    except CommentfeedError as exc:
        raise click.ClickException(str(exc)) from None


@click.command()
@click.argument("event_type", required=False, type=click.Choice(EVENT_TYPES),
                metavar="[EVENT_TYPE]")
@click.option("--file", "file", type=click.File("rb"),
              help="A JSON event ('-' for stdin): a whole CloudEvent, or just type and data.")
@click.option("--event-id", help="The event id (the dedupe key); generated if absent.")
@click.option("--article-id")
@click.option("--site", help="Defaults to COMMENTFEED_DEFAULT_SITE.")
@click.option("--title")
@click.option("--url")
@click.option("--author", help="An article's author (byline).")
@click.option("--published-at", type=click.DateTime(["%Y-%m-%dT%H:%M:%S%z"]))
@click.option("--comment-id", help="Generated for comment.posted if absent.")
@click.option("--parent-id")
@click.option("--author-id", help="A comment's author id.")
@click.option("--author-name", help="A comment's author name (defaults to the id).")
@click.option("--body")
@click.option("--status", type=click.Choice(["visible", "pending", "hidden"]))
@click.option("--moderator")
@click.option("--deleted-by")
@click.option("--voter-id")
@click.option("--value", type=click.IntRange(-1, 1))
@click.option("--reason")
def publish(event_type: str | None, file: Any, event_id: str | None, **flags: Any) -> None:
    """Publish one event, from flags or a JSON file; prints where it was stored.

    \b
    commentfeed publish comment.posted --article-id a1 --author-id u1 --body "Hello"
    commentfeed publish --file event.json
    """
    settings = Settings()
    try:
        if file is not None:
            if event_type is not None or any(v is not None for v in flags.values()):
                raise click.UsageError("give either --file or an event type with flags")
            try:
                doc = loads(file.read())
            except ValueError as exc:
                raise EventInputError(f"not JSON: {exc}") from None
            event = event_from_json(doc)
        elif event_type is None:
            raise click.UsageError("give an event type (or --file)")
        else:
            event = event_from_flags(event_type, flags, default_site=settings.default_site,
                                     now=datetime.now(UTC), event_id=event_id)
    except EventInputError as exc:
        raise click.UsageError(str(exc)) from None
    (delivery,) = _run(_publish(settings, [event]))
    click.echo(_delivery_json(delivery))


# -- demo --------------------------------------------------------------------------------------

async def _demo(settings: Settings) -> tuple[list[Delivery], list[Delivery]]:
    events = demo_events()
    articles = [e for e in events if isinstance(e, ARTICLE_EVENT_TYPES)]
    comments = [e for e in events if not isinstance(e, ARTICLE_EVENT_TYPES)]
    async with Publisher(settings) as publisher:
        # Articles first and acknowledged, so no comment can arrive before its article.
        first = await publisher.publish_many(articles)
        second = await publisher.publish_many(comments)
    return first, second


@click.command()
def demo() -> None:
    """Publish the demo articles and their comments (fixed ids: replaying is harmless)."""
    settings = Settings()
    articles, comments = _run(_demo(settings))
    click.echo(f"published {len(articles)} articles and {len(comments)} comments "
               f"to {settings.kafka_bootstrap}")


# -- load --------------------------------------------------------------------------------------

@click.command()
@click.option("--rate", type=click.FloatRange(min=0, min_open=True), default=1000.0,
              show_default=True, help="Comment events per second.")
@click.option("--duration", type=click.FloatRange(min=0, min_open=True), default=10.0,
              show_default=True, help="Seconds.")
@click.option("--articles", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--viewers", type=click.IntRange(min=0), default=0, show_default=True,
              help="Viewers per article (recorded for benchmarks; the generator only publishes).")
@click.option("--site", default="load", show_default=True)
@click.option("--seed", type=int, help="Make the event mix repeatable.")
@click.option("--json-out", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the stats (with per-event publish times) as JSON.")
def load(rate: float, duration: float, articles: int, viewers: int, site: str,
         seed: int | None, json_out: Path | None) -> None:
    """Generate comment load: mostly new comments and replies, some votes and edits."""
    from tqdm import tqdm

    from producers.load import LoadPlan, LoadStats, run_load

    settings = Settings()
    plan = LoadPlan(rate=rate, duration_s=duration, articles=articles, viewers=viewers,
                    site=site, seed=seed)

    async def main() -> LoadStats:
        async with Publisher(settings, client_id="commentfeed-load") as publisher:
            with tqdm(total=plan.total, unit="ev", file=sys.stderr, mininterval=0.25) as bar:

                def advance(ok: bool) -> None:
                    bar.update(1)

                return await run_load(publisher, plan, on_settled=advance)

    stats: LoadStats = _run(main())
    click.echo(stats.summary())
    for line in stats.first_errors:
        click.echo(f"  error: {line}")
    if json_out is not None:
        json_out.write_text(json.dumps({
            "rate": plan.rate, "duration_s": plan.duration_s, "viewers": plan.viewers,
            "articles": stats.articles, "sent": stats.sent, "acked": stats.acked,
            "failed": stats.failed, "errors": dict(stats.errors),
            "elapsed_s": stats.elapsed_s, "achieved_rate": stats.achieved_rate,
            "by_type": dict(stats.by_type), "published_at": stats.published_at,
        }))
    if stats.failed:
        sys.exit(1)
