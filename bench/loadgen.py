"""The pipeline benchmark's load process: ``python -m bench.loadgen``.

Runs the producers' reusable load core (:func:`producers.load.run_load`, the same code as
``commentfeed load``) through a :class:`~producers.publisher.Publisher` in its own process, so
generating events never competes with the gateway's or the viewers' event loop. The run id is
given, so the benchmark knows the article ids (``load-<run_id>-a<i>``) before the load starts
and its viewers can subscribe first. Prints one ``done`` line with the stats.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from bench.control import emit
from commentfeed.settings import Settings
from producers.load import LoadPlan, run_load
from producers.publisher import Publisher


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    settings = Settings()  # the broker and topics come from COMMENTFEED_* like any producer
    plan = LoadPlan(rate=args.rate, duration_s=args.duration, articles=args.articles,
                    viewers=args.viewers, site=args.site, seed=args.seed, run_id=args.run_id,
                    vote_share=args.vote_share, edit_share=args.edit_share)
    async with Publisher(settings, client_id="bench-load") as publisher:
        stats = await run_load(publisher, plan)
    return {"event": "done", "sent": stats.sent, "acked": stats.acked, "failed": stats.failed,
            "errors": dict(stats.errors), "first_errors": stats.first_errors,
            "elapsed_s": stats.elapsed_s, "achieved_rate": stats.achieved_rate,
            "by_type": dict(stats.by_type)}


def main() -> None:
    parser = argparse.ArgumentParser(description="paced comment load for bench.pipeline")
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument("--articles", type=int, required=True)
    parser.add_argument("--viewers", type=int, default=0)
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--site", default="load")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--vote-share", type=float, default=0.10)
    parser.add_argument("--edit-share", type=float, default=0.05)
    emit(asyncio.run(main_async(parser.parse_args())))


if __name__ == "__main__":
    main()
