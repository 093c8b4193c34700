"""``python -m examples.most_discussed``: print the most discussed articles as they change."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
from datetime import UTC, datetime, timedelta

from .consumer import Config, MostDiscussed
from .view import Row, expire, top


def render(rows: list[Row], now: datetime, window: timedelta) -> str:
    minutes = int(window.total_seconds() // 60)
    lines = [f"most discussed, {minutes} min to {now:%H:%M:%S} UTC"]
    lines += [
        f"{i:>3}. {row.article_id:<40} {row.recent_comments:>5} new"
        f"  {'?' if row.count is None else row.count:>6} total"
        for i, row in enumerate(rows, 1)
    ]
    if not rows:
        lines.append("     (no comments in the window)")
    return "\n".join(lines)


async def _print_changes(service: MostDiscussed, n: int, every_s: float) -> None:
    shown = ""
    while True:
        now = datetime.now(UTC)
        service.view = expire(service.view, now)
        text = render(top(service.view, now, n), now, service.config.window)
        if text.split("\n", 1)[-1] != shown.split("\n", 1)[-1]:
            print(text, flush=True)
            shown = text
        await asyncio.sleep(every_s)


async def _main(config: Config, n: int, every_s: float) -> None:
    service = MostDiscussed(config)
    printer = asyncio.create_task(_print_changes(service, n, every_s))
    try:
        await service.run()
    finally:
        printer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await printer


def main() -> None:
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="python -m examples.most_discussed",
                                     description=__doc__)
    parser.add_argument("--bootstrap", default=env("COMMENTFEED_KAFKA_BOOTSTRAP", "127.0.0.1:9092"))
    parser.add_argument("--topic-prefix", default=env("COMMENTFEED_TOPIC_PREFIX", ""))
    parser.add_argument("--group", default="most-discussed", help="this service's consumer group")
    parser.add_argument("--window-minutes", type=float, default=60.0)
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("--every", type=float, default=2.0, help="seconds between refreshes")
    parser.add_argument("--fetch-wait-ms", type=int,
                        default=int(env("COMMENTFEED_FETCH_WAIT_MS", "100")))
    parser.add_argument("--rebalance-timeout-ms", type=int,
                        default=int(env("COMMENTFEED_REBALANCE_TIMEOUT_MS", "10000")))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    config = Config(
        bootstrap=args.bootstrap, topic_prefix=args.topic_prefix, group_id=args.group,
        window=timedelta(minutes=args.window_minutes), fetch_wait_ms=args.fetch_wait_ms,
        rebalance_timeout_ms=args.rebalance_timeout_ms,
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(config, args.top, args.every))


if __name__ == "__main__":
    main()
