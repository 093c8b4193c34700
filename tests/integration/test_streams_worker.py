"""The streams worker as a process on the real broker: demo thread, feed updates, recent list,
dead letters and the query API. One worker serves the whole module; tests use their own
articles and sites so they do not depend on each other."""

from __future__ import annotations

import base64
import random
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from commentfeed import codec
from commentfeed.broker import EmbeddedBroker, free_port
from commentfeed.demo_data import LEAD_ARTICLE_ID, demo_events
from commentfeed.events import (
    CommentEdited,
    CommentEditedData,
    CommentPosted,
    CommentView,
    InputEvent,
    RecentItem,
)
from commentfeed.kafka import make_producer
from commentfeed.settings import Settings
from commentfeed.topics import Topic, topic_name
from streams.fold import PARK_GRACE
from streams.process import WorkerProcess
from streams.tables import partition_for
from tests.conftest import make_settings
from tests.integration.test_streams_support import (
    T0,
    Tail,
    article,
    as_record,
    delete,
    feed_by_channel,
    last_counts,
    moderate,
    poll_json,
    post,
    publish,
    vote,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def worker(broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory,
           ) -> Iterator[WorkerProcess]:
    tmp = tmp_path_factory.mktemp("streams-worker")
    settings = make_settings(broker.bootstrap, streams_port=free_port(),
                             data_dir=str(tmp / "data"))
    process = WorkerProcess(settings, tmp / "worker.log").start()
    try:
        process.wait_ready(60)
        yield process
    finally:
        assert process.stop() == 0, Path(process.log_path).read_text()[-3000:]


@pytest.fixture(scope="module")
def settings(worker: WorkerProcess) -> Settings:
    return worker.settings


@pytest.fixture(scope="module")
async def feed(settings: Settings) -> AsyncIterator[Tail]:
    tail = await Tail(settings, topic_name(settings, Topic.FEED_UPDATES)).start()
    yield tail
    await tail.stop()


@pytest.fixture(scope="module")
async def counts(settings: Settings) -> AsyncIterator[Tail]:
    tail = await Tail(settings, topic_name(settings, Topic.FEED_COUNTS)).start()
    yield tail
    await tail.stop()


@pytest.fixture
async def api(worker: WorkerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=worker.url, timeout=10) as client:
        yield client


async def test_demo_data_gives_count_four_and_the_nested_thread(
    settings: Settings, api: httpx.AsyncClient, feed: Tail, counts: Tail,
) -> None:
    await publish(settings, [as_record(settings, e) for e in demo_events()])
    url = f"/v1/channels/article:{LEAD_ARTICLE_ID}/snapshot"
    body = await poll_json(api, url, lambda b: b["snapshot"]["count"] == 4)
    snap = body["snapshot"]
    assert body["channel"] == f"article:{LEAD_ARTICLE_ID}"
    assert body["offset"] == 9  # article, then (comment.added, count) for each of four
    assert [(c["comment_id"], c["parent_id"], c["depth"]) for c in snap["comments"]] == [
        ("c-1001", None, 0), ("c-1002", "c-1001", 1), ("c-1003", "c-1002", 2),
        ("c-1004", None, 0)]
    assert snap["cursor"] is None
    assert snap["article"]["title"].startswith("Harbour Bridge Reopens")
    for c in snap["comments"]:
        CommentView.model_validate(c)

    channel = f"article:{LEAD_ARTICLE_ID}"
    await feed.wait_for(lambda: len(feed_by_channel(feed)[channel]) >= 9)
    updates = feed_by_channel(feed)
    lead = [updates[channel][o] for o in sorted(updates[channel])]
    assert [(u.data.offset, u.data.kind) for u in lead] == [
        (1, "article"), (2, "comment.added"), (3, "count"), (4, "comment.added"), (5, "count"),
        (6, "comment.added"), (7, "count"), (8, "comment.added"), (9, "count")]
    assert {u.data.epoch for u in lead} == {body["epoch"]}
    assert [u.data.payload["depth"] for u in lead if u.data.kind == "comment.added"] == [
        0, 1, 2, 0]
    count_channel = updates[f"count:{LEAD_ARTICLE_ID}"]
    assert [(o, u.data.payload["count"]) for o, u in sorted(count_channel.items())] == [
        (1, 1), (2, 2), (3, 3), (4, 4)]
    await counts.wait_for(lambda: last_counts(counts).get(LEAD_ARTICLE_ID) == 4)

    info = (await api.get(f"/v1/articles/{LEAD_ARTICLE_ID}")).json()
    assert info["count"] == 4
    assert info["article"]["article_id"] == LEAD_ARTICLE_ID
    # The worker serves the ten newest of the site, newest first.
    posted = sorted((e.data for e in demo_events() if isinstance(e, CommentPosted)),
                    key=lambda c: c.posted_at, reverse=True)
    newest = [c.comment_id for c in posted[:10]]
    recent = await poll_json(api, "/v1/sites/demo/recent",
                             lambda b: [i["comment_id"] for i in b["items"]] == newest)
    bodies = {c.comment_id: c.body for c in posted}
    long_items = [i for i in recent["items"] if len(bodies[i["comment_id"]]) > 100]
    assert long_items
    for item in long_items:
        cut, full = item["excerpt"], bodies[item["comment_id"]]
        assert cut.endswith("…")
        assert len(cut) <= 101
        assert full.startswith(cut[:-1])
        assert not full[len(cut) - 1].isalnum()  # cut at a word boundary
    for item in recent["items"]:
        RecentItem.model_validate(item)
    alias = (await api.get("/v1/channels/recent/snapshot")).json()
    assert alias["snapshot"] == {"site": "demo", "items": recent["items"]}


async def test_edit_vote_hide_and_delete_each_emit_the_right_update(
    settings: Settings, api: httpx.AsyncClient, feed: Tail, counts: Tail,
) -> None:
    site, aid = "s-mut", "mut-article"
    events: list[InputEvent] = [article(aid, site)]
    events += [post(aid, f"m{i:02d}", site, minute=i, body=f"comment {i} " + "words " * 30)
               for i in range(12)]
    await publish(settings, [as_record(settings, e) for e in events])
    await poll_json(api, f"/v1/articles/{aid}", lambda b: b["count"] == 12)
    edit = CommentEdited(id="edit-1", subject=aid, data=CommentEditedData(
        comment_id="m11", article_id=aid, site=site, body="Edited: shorter now.",
        edited_at=T0.replace(hour=11)))
    changes: list[InputEvent] = [edit, vote(aid, "m10", site, "v1", 1, "vote-1"),
               moderate(aid, "m09", site, "hidden", "hide-1"), delete(aid, "m08", site, "del-1")]
    await publish(settings, [as_record(settings, e) for e in changes])

    channel, count_channel = f"article:{aid}", f"count:{aid}"
    await feed.wait_for(lambda: len(feed_by_channel(feed)[channel]) >= 31)
    updates = feed_by_channel(feed)
    tail = [updates[channel][o] for o in range(26, 32)]
    assert [(u.data.offset, u.type, u.data.payload.get("count")) for u in tail] == [
        (26, "feed.comment.updated", None), (27, "feed.comment.score", None),
        (28, "feed.comment.removed", None), (29, "feed.count", 11),
        (30, "feed.comment.removed", None), (31, "feed.count", 10)]
    assert tail[0].data.payload["body"] == "Edited: shorter now."
    assert tail[0].data.payload["edited_at"] == "2026-03-14T11:00:00Z"
    assert tail[1].data.payload == {"comment_id": "m10", "article_id": aid, "score": 1}
    assert tail[2].data.payload == {"comment_id": "m09", "article_id": aid, "reason": "hidden"}
    assert tail[4].data.payload == {"comment_id": "m08", "article_id": aid, "reason": "deleted"}
    assert all(u.subject == channel and u.record_id.startswith(f"{channel}@") for u in tail)
    assert [(o, u.data.payload["count"]) for o, u in sorted(updates[count_channel].items())][-2:] \
        == [(13, 11), (14, 10)]
    await counts.wait_for(lambda: last_counts(counts).get(aid) == 10)

    # The hidden and the deleted comment left the recent list; older ones moved up.
    expected = ["m11", "m10", "m07", "m06", "m05", "m04", "m03", "m02", "m01", "m00"]
    recent = await poll_json(api, f"/v1/sites/{site}/recent",
                             lambda b: [i["comment_id"] for i in b["items"]] == expected)
    assert recent["items"][0]["excerpt"] == "Edited: shorter now."
    assert all(i["excerpt"].endswith("…") for i in recent["items"][1:])

    def latest_recent() -> dict[str, object] | None:
        channel = feed_by_channel(feed).get(f"recent:{site}")
        return channel[max(channel)].data.payload if channel else None

    await feed.wait_for(lambda: latest_recent() == {"site": site, "items": recent["items"]})


async def test_malformed_events_go_to_the_dlq_and_good_ones_are_counted(
    settings: Settings, api: httpx.AsyncClient,
) -> None:
    site, aid = "s-dlq", "dlq-article"
    rng = random.Random(3)
    comments = topic_name(settings, Topic.COMMENTS)
    # Comments for an article never published wait for it until a record arrives in their
    # partition more than the grace later (by record timestamp): the last good one below.
    home = partition_for(aid, settings.partitions)
    ghost = next(g for g in (f"ghost-{n}" for n in range(100))
                 if partition_for(g, settings.partitions) == home)
    good = [as_record(settings, post(aid, f"g{i:03d}", site, minute=i)) for i in range(180)]
    valid = orjson.loads(good[0][2])
    bad: list[tuple[tuple[str, bytes | None, bytes], str]] = []
    for i in range(4):
        bad.append(((comments, aid.encode(), b'{"specversion": "1.0", ' + bytes([65 + i])),
                     "invalid_json"))
        bad.append(((comments, aid.encode(), orjson.dumps({**valid, "id": f"x{i}", "data": {
            **valid["data"], "body": ""}})), "invalid_event"))
        bad.append(((comments, aid.encode(), orjson.dumps({**valid, "id": f"t{i}",
                                                           "type": "comment.liked"})),
                     "unknown_type"))
        bad.append(((comments, aid.encode(), orjson.dumps({**valid, "id": f"l{i}",
                                                           "padding": "x" * 70_000})),
                     "too_large"))
        bad.append((as_record(settings, post(ghost, f"n{i}", site, minute=i)), "unknown_article"))
    assert len(bad) == 20
    stream: list[tuple[str, bytes | None, bytes]] = list(good)
    for record, _ in bad:
        stream.insert(rng.randrange(len(stream) + 1), record)
    dlq = await Tail(settings, topic_name(settings, Topic.DLQ)).start()
    try:
        # The article first: the late record below expires whatever is still waiting.
        await publish(settings, [as_record(settings, article(aid, site))])
        await poll_json(api, f"/v1/articles/{aid}", lambda b: b["article"] is not None)
        await publish(settings, stream)
        producer = make_producer(settings)
        await producer.start()
        try:
            topic, key, value = as_record(settings, post(aid, "g-late", site, minute=999))
            later_ms = int(time.time() * 1000 + PARK_GRACE.total_seconds() * 1000 + 1000)
            await producer.send_and_wait(topic, value, key=key, timestamp_ms=later_ms)
        finally:
            await producer.stop()
        await poll_json(api, f"/v1/articles/{aid}", lambda b: b["count"] == 181)
        # Letters keep the original whole up to the input limit, a prefix beyond it.
        expected = {base64.b64encode(r[2][:codec.MAX_DEAD_LETTER_ORIGINAL]).decode(): reason
                    for r, reason in bad}
        await dlq.wait_for(lambda: len(dlq.records) >= len(bad))
        letters = [codec.decode_dead_letter(v) for _, v in dlq.records]
        assert {d.original_b64: d.reason for d in letters} == expected
        assert len(letters) == len(bad)
        assert all(d.topic == comments and d.offset >= 0 for d in letters)
        assert {d.field for d in letters if d.reason == "invalid_event"} == {"data.body"}
    finally:
        await dlq.stop()
    health = (await api.get("/readyz")).json()
    assert health["ready"] is True


async def test_query_api_answers_errors_and_empty_channels(api: httpx.AsyncClient) -> None:
    assert (await api.get("/v1/channels/bogus/snapshot")).status_code == 400
    assert (await api.get("/v1/channels/article:ok/snapshot?limit=0")).status_code == 400
    assert (await api.get("/v1/counts")).status_code == 400
    assert (await api.get("/v1/articles/x/comments?before=nope")).status_code == 400
    for path in ("/v1/sites/no%20such/moderation/stats", "/v1/sites/no%20such/recent",
                 "/v1/articles/x/votes/no%20such", "/v1/articles/no%20such"):
        answer = await api.get(path)
        assert (answer.status_code, answer.json()["error"]) == (400, "bad_request"), path
    empty = (await api.get("/v1/channels/article:never-seen/snapshot")).json()
    assert empty["offset"] == 0
    assert empty["snapshot"] == {"article": None, "count": 0, "comments": [], "cursor": None}
    assert len(empty["epoch"]) == 12
    assert (await api.get("/v1/channels/count:never-seen/snapshot")).json()["snapshot"] == {
        "article_id": "never-seen", "count": 0}
    assert (await api.get("/healthz")).status_code == 200


async def test_history_pages_older_comments(api: httpx.AsyncClient, settings: Settings) -> None:
    site, aid = "s-page", "paged-article"
    events: list[InputEvent] = [article(aid, site)]
    events += [post(aid, f"p{i:02d}", site, minute=i) for i in range(7)]
    await publish(settings, [as_record(settings, e) for e in events])
    snap = await poll_json(api, f"/v1/channels/article:{aid}/snapshot?limit=3",
                           lambda b: b["snapshot"]["count"] == 7)
    assert [c["comment_id"] for c in snap["snapshot"]["comments"]] == ["p04", "p05", "p06"]
    page = (await api.get(f"/v1/articles/{aid}/comments",
                          params={"before": snap["snapshot"]["cursor"], "limit": 3})).json()
    assert [c["comment_id"] for c in page["comments"]] == ["p03", "p02", "p01"]
    last = (await api.get(f"/v1/articles/{aid}/comments",
                          params={"before": page["cursor"], "limit": 3})).json()
    assert last == {"comments": [last["comments"][0]], "cursor": None}
    assert last["comments"][0]["comment_id"] == "p00"


async def test_faust_table_dump_and_topology_endpoints_are_off(api: httpx.AsyncClient) -> None:
    for path in ("/table/", "/table/state", "/table/state/a%2Fx", "/router/", "/graph/"):
        assert (await api.get(path)).status_code == 404, path


async def test_a_junk_record_larger_than_any_event_is_dead_lettered_as_a_bounded_prefix(
    settings: Settings, api: httpx.AsyncClient,
) -> None:
    aid = "junk-article"
    comments = topic_name(settings, Topic.COMMENTS)
    junk = b"\x00junk" * 160_000  # 800 KB: too large to copy whole into any record we write
    dlq = await Tail(settings, topic_name(settings, Topic.DLQ)).start()
    try:
        await publish(settings, [(comments, aid.encode(), junk)])
        await dlq.wait_for(lambda: any(
            codec.decode_dead_letter(v).key == aid for _, v in dlq.records))
        letter = next(d for d in map(codec.decode_dead_letter, (v for _, v in dlq.records))
                      if d.key == aid)
    finally:
        await dlq.stop()
    assert (letter.reason, letter.topic, letter.original_size, letter.truncated) == (
        "too_large", comments, len(junk), True)
    assert base64.b64decode(letter.original_b64) == junk[:codec.MAX_DEAD_LETTER_ORIGINAL]
    # The worker carried on: the next event of the same article is folded.
    await publish(settings, [as_record(settings, article(aid, "s-junk"))])
    await poll_json(api, f"/v1/articles/{aid}", lambda b: b["article"] is not None)
