"""The query API (docs/streams-api.md) as Faust web views, routed to the key's owner.

Any worker answers for any key: a request for a key whose table partition another worker owns
is forwarded there (once: the forwarded request is marked and answered locally or refused).
Reads of one answer happen without awaiting in between, so it is the state at one event
boundary. Responses are JSON from the project codec.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import Any, Protocol, cast

import aiohttp
from faust.web import View

from commentfeed import codec
from commentfeed.errors import CommentfeedError
from commentfeed.settings import Settings
from commentfeed.topics import Topic, topic_name
from streams import metrics, modqueue, queries
from streams.queries import QueryError
from streams.tables import RecordTable, partition_for


class StreamsHost(Protocol):
    """What the views need of the Faust app (``streams.app.StreamsApp``), without importing it:
    the app registers the views, so the views must not import the app."""

    settings: Settings
    state_table: RecordTable
    site_table: RecordTable
    handlers: Any
    presence: Any

    @property
    def router(self) -> Any: ...

    @property
    def conf(self) -> Any: ...

    @property
    def consumer(self) -> Any: ...

    @property
    def http_client(self) -> Any: ...

    @property
    def namespace(self) -> str: ...

    def ready(self) -> bool: ...

    def page(self, path: str) -> Any: ...

ROUTED_HEADER = "X-Commentfeed-Routed"
_FORWARD_TIMEOUT = aiohttp.ClientTimeout(total=10)


class NotReady(CommentfeedError):
    """Tables are recovering or partitions are moving: retry shortly."""


def _owner(app: StreamsHost, table: RecordTable, key: str) -> str | None:
    """Base URL of the worker owning ``key`` in ``table``; ``None`` when it is this one."""
    partition = partition_for(key, app.settings.partitions)
    metadata = app.router.table_metadata(table.name)
    for url, topics in metadata.items():
        if partition in topics.get(table.changelog_topic, ()):
            own = str(app.conf.canonical_url).rstrip("/")
            return None if str(url).rstrip("/") == own else str(url).rstrip("/")
    raise NotReady(f"no worker owns partition {partition} of {table.name} yet")


class ApiView(View):
    @property
    def host(self) -> StreamsHost:
        return cast(StreamsHost, self.app)

    def answer(self, body: Any, status: int = 200) -> Any:
        return self.bytes(codec.dumps(body), content_type="application/json", status=status)

    def problem(self, status: int, code: str, message: str) -> Any:
        return self.answer({"error": code, "message": message}, status)

    async def routed(self, request: Any, table: RecordTable, key: str,
                     local: Callable[[], Any], *, ids: Mapping[str, str] | None = None) -> Any:
        """Answer ``local()`` here if this worker owns ``key``, else forward the request;
        ``ids`` (what -> value, e.g. ``{"site": site}``) are checked first (400 if bad)."""
        try:
            for what, value in (ids or {}).items():
                queries.check_id(value, what)
            if not self.host.ready():
                raise NotReady("tables are recovering")
            owner = None if request.headers.get(ROUTED_HEADER) else _owner(self.host, table, key)
            if owner is None:
                return self.answer(local())
            status, body = await self.forward(owner, request.path_qs)
            return self.bytes(body, content_type="application/json", status=status)
        except QueryError as exc:
            return self.problem(exc.status, "bad_request", exc.message)
        except (NotReady, aiohttp.ClientError, TimeoutError) as exc:
            return self.problem(503, "unavailable", str(exc) or type(exc).__name__)

    async def forward(self, base: str, path_qs: str) -> tuple[int, bytes]:
        session = self.host.http_client
        async with session.get(f"{base}{path_qs}", headers={ROUTED_HEADER: "1"},
                               timeout=_FORWARD_TIMEOUT) as response:
            return response.status, await response.read()


def register_views(app: StreamsHost) -> None:
    settings = app.settings
    state, sites = app.state_table, app.site_table

    @app.page("/healthz")
    class Health(ApiView):
        async def get(self, request: Any) -> Any:
            return self.answer({"status": "ok"})

    @app.page("/readyz")
    class Ready(ApiView):
        async def get(self, request: Any) -> Any:
            ready = self.host.ready()
            comments = topic_name(settings, Topic.COMMENTS)
            owned = sorted(tp.partition for tp in self.host.consumer.assignment()
                           if tp.topic == comments)
            stats = vars(self.host.handlers.stats)
            return self.answer({"ready": ready, "partitions": owned, **stats},
                               200 if ready else 503)

    @app.page("/metrics")
    class Metrics(ApiView):
        async def get(self, request: Any) -> Any:
            # The queues of the sites whose partition this worker owns (not its standbys), so
            # scraping every worker counts each site once.
            facts = self.host.handlers.outputs.facts
            owned = {tp.partition for tp in self.host.consumer.assignment()
                     if tp.topic == facts}
            queues = {}
            for key in sites.keys_with_prefix("q/"):
                site = key[2:]
                if partition_for(site, settings.partitions) not in owned:
                    continue
                q = modqueue.read_queue(sites.get, site)
                if q is not None:
                    queues[site] = modqueue.stats(q)
            body = metrics.render(vars(self.host.handlers.stats), queues)
            return self.bytes(body, content_type=metrics.CONTENT_TYPE)

    @app.page("/v1/channels/{channel}/snapshot")
    class Snapshot(ApiView):
        async def get(self, request: Any, channel: str) -> Any:
            try:
                parsed = queries.parse_channel(channel, settings.default_site)
                limit = queries.parse_limit(request.query.get("limit"))
            except QueryError as exc:
                return self.problem(400, "bad_channel", exc.message)
            ns = self.host.namespace

            def local() -> dict[str, Any]:
                if parsed.kind == "article":
                    epoch, offset, snap = queries.article_snapshot(
                        parsed.key, state.get, limit=limit, namespace=ns)
                elif parsed.kind == "presence":
                    held = self.host.presence.snapshot(parsed.key, time.time())
                    epoch, offset = held.epoch, held.offset
                    snap = {"article_id": parsed.key, "reading": held.reading}
                elif parsed.kind == "count":
                    epoch, offset, snap = queries.count_snapshot(parsed.key, state.get,
                                                                 namespace=ns)
                elif parsed.kind == "moderation":
                    epoch, offset, snap = queries.moderation_snapshot(parsed.key, sites.get,
                                                                      namespace=ns)
                else:
                    epoch, offset, snap = queries.recent_snapshot(parsed.key, sites.get,
                                                                  namespace=ns)
                return {"channel": channel, "epoch": epoch, "offset": offset, "snapshot": snap}

            table = sites if parsed.kind in ("recent", "moderation") else state
            return await self.routed(request, table, parsed.key, local)

    @app.page("/v1/articles/{article_id}/comments")
    class Comments(ApiView):
        async def get(self, request: Any, article_id: str) -> Any:
            try:
                queries.check_id(article_id, "article id")
                limit = queries.parse_limit(request.query.get("limit"))
                sort = queries.parse_sort(request.query.get("sort"))
            except QueryError as exc:
                return self.problem(400, "bad_request", exc.message)
            before = request.query.get("before") or None
            return await self.routed(request, state, article_id, lambda: queries.history(
                article_id, state.get, before=before, limit=limit, sort=sort))

    @app.page("/v1/articles/{article_id}/votes/{voter_id}")
    class VoterVotes(ApiView):
        async def get(self, request: Any, article_id: str, voter_id: str) -> Any:
            return await self.routed(request, state, article_id, lambda: queries.voter_votes(
                article_id, voter_id, state.get),
                ids={"article id": article_id, "voter id": voter_id})

    @app.page("/v1/articles/{article_id}")
    class Article(ApiView):
        async def get(self, request: Any, article_id: str) -> Any:
            return await self.routed(request, state, article_id,
                                     lambda: queries.article_info(article_id, state.get),
                                     ids={"article id": article_id})

    @app.page("/v1/sites/{site}/recent")
    class SiteRecent(ApiView):
        async def get(self, request: Any, site: str) -> Any:
            def local() -> dict[str, Any]:
                _, _, snap = queries.recent_snapshot(site, sites.get, namespace=app.namespace)
                return snap

            return await self.routed(request, sites, site, local, ids={"site": site})

    @app.page("/v1/sites/{site}/moderation/stats")
    class ModerationStats(ApiView):
        async def get(self, request: Any, site: str) -> Any:
            def local() -> dict[str, Any]:
                _, _, snap = queries.moderation_snapshot(site, sites.get,
                                                         namespace=app.namespace)
                return {k: v for k, v in snap.items() if k != "queue"}

            return await self.routed(request, sites, site, local, ids={"site": site})

    @app.page("/v1/counts")
    class Counts(ApiView):
        async def get(self, request: Any) -> Any:
            try:
                ids = queries.parse_ids(request.query.get("ids"))
                if not self.host.ready():
                    raise NotReady("tables are recovering")
                if request.headers.get(ROUTED_HEADER):
                    return self.answer({"counts": queries.counts(ids, state.get)})
                by_owner: dict[str | None, list[str]] = defaultdict(list)
                for article_id in ids:
                    by_owner[_owner(self.host, state, article_id)].append(article_id)
                local = queries.counts(by_owner.pop(None, []), state.get)
                answers = await asyncio.gather(*(
                    self.forward(owner, f"/v1/counts?ids={','.join(part)}")
                    for owner, part in by_owner.items() if owner is not None))
                for status, body in answers:
                    if status != 200:
                        raise NotReady(f"a worker answered {status}")
                    local.update(codec.loads(body)["counts"])
                return self.answer({"counts": {i: local[i] for i in ids}})
            except QueryError as exc:
                return self.problem(exc.status, "bad_request", exc.message)
            except (NotReady, aiohttp.ClientError, TimeoutError) as exc:
                return self.problem(503, "unavailable", str(exc) or type(exc).__name__)
