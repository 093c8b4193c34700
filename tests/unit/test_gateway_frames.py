"""Protocol v1 frames: requests parsed with the documented error codes, frames built once."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from commentfeed.channels import upstream_channel
from gateway.exceptions import BadUpdateError, FrameError, UpstreamError
from gateway.frames import (
    history_floor,
    parse_history,
    parse_request,
    parse_snapshot,
    parse_updates,
    resume_frame,
    snapshot_frame,
    update_frame,
)
from gateway.protocol import HistoryRequest, Ping, Position, Subscribe, Unsubscribe


def parse(doc: Any) -> object:
    return parse_request(orjson.dumps(doc).decode())


def refused(raw: str | bytes) -> FrameError:
    with pytest.raises(FrameError) as info:
        parse_request(raw)
    return info.value


def test_subscribe_with_and_without_since() -> None:
    assert parse({"op": "subscribe", "channel": "article:42", "id": 1}) == Subscribe(
        op="subscribe", id=1, channel="article:42", since=None)
    assert parse({"op": "subscribe", "channel": "count:a.b-c_d", "id": "x",
                  "since": {"epoch": "e1", "offset": 17}}) == Subscribe(
        op="subscribe", id="x", channel="count:a.b-c_d", since=Position(epoch="e1", offset=17))


def test_bare_recent_keeps_its_name_and_means_the_default_site_upstream() -> None:
    assert parse({"op": "subscribe", "channel": "recent"}) == Subscribe(
        op="subscribe", channel="recent")
    assert upstream_channel("recent", "demo") == "recent:demo"
    assert upstream_channel("recent:other", "demo") == "recent:other"


def test_other_ops() -> None:
    assert parse({"op": "unsubscribe", "channel": "article:1", "id": 3}) == Unsubscribe(
        op="unsubscribe", id=3, channel="article:1")
    assert parse({"op": "history", "channel": "article:1", "before": "c", "limit": 10,
                  "id": 4}) == HistoryRequest(
        op="history", id=4, channel="article:1", before="c", limit=10)
    assert parse({"op": "history", "channel": "article:1"}) == HistoryRequest(
        op="history", channel="article:1", limit=50)
    assert parse({"op": "history", "channel": "article:1", "sort": "best"}) == HistoryRequest(
        op="history", channel="article:1", limit=50, sort="best")
    assert parse({"op": "ping", "id": 5, "extra": [1, 2]}) == Ping(op="ping", id=5)


@pytest.mark.parametrize(("raw", "code"), [
    (b'{"op":"ping"}', "bad_json"),
    ("{not json", "bad_json"),
    ("[1, 2]", "bad_json"),
    ('"ping"', "bad_json"),
    ("{}", "bad_request"),
    ('{"op": "dance"}', "bad_request"),
    ('{"op": 7}', "bad_request"),
    ('{"op": "subscribe"}', "bad_request"),
    ('{"op": "subscribe", "channel": 42}', "bad_request"),
    ('{"op": "subscribe", "channel": "article:"}', "bad_channel"),
    ('{"op": "subscribe", "channel": "article:a/b"}', "bad_channel"),
    ('{"op": "subscribe", "channel": "votes:1"}', "bad_channel"),
    ('{"op": "subscribe", "channel": "article:' + "x" * 65 + '"}', "bad_channel"),
    ('{"op": "subscribe", "channel": "article:1", "since": 3}', "bad_request"),
    ('{"op": "subscribe", "channel": "article:1", "since": {"epoch": "e", "offset": -1}}',
     "bad_request"),
    ('{"op": "subscribe", "channel": "article:1", "since": {"epoch": "e", "offset": true}}',
     "bad_request"),
    ('{"op": "subscribe", "channel": "article:1", "since": {"epoch": "", "offset": 1}}',
     "bad_request"),
    ('{"op": "ping", "id": true}', "bad_request"),
    ('{"op": "ping", "id": 1.5}', "bad_request"),
    ('{"op": "ping", "id": "' + "x" * 65 + '"}', "bad_request"),
    ('{"op": "history", "channel": "count:1"}', "bad_request"),
    ('{"op": "history", "channel": "article:1", "limit": 0}', "bad_request"),
    ('{"op": "history", "channel": "article:1", "limit": 101}', "bad_request"),
    ('{"op": "history", "channel": "article:1", "before": 5}', "bad_request"),
    ('{"op": "history", "channel": "article:1", "sort": "oldest"}', "bad_request"),
    ('{"op": "history", "channel": "article:1", "sort": 1}', "bad_request"),
])
def test_refused_frames_carry_the_documented_code(raw: str | bytes, code: str) -> None:
    assert refused(raw).code == code


def test_an_error_echoes_a_valid_id_only() -> None:
    assert refused('{"op": "subscribe", "channel": "nope", "id": 9}').request_id == 9
    assert refused('{"op": "dance", "id": "r1"}').request_id == "r1"
    assert refused('{"op": "dance", "id": [1]}').request_id is None


def test_update_frame_has_the_documented_fields() -> None:
    frame = orjson.loads(update_frame("count:1", "e1", 21, "count",
                                      {"article_id": "1", "count": 4}))
    assert frame == {"op": "update", "channel": "count:1", "epoch": "e1", "offset": 21,
                     "type": "count", "data": {"article_id": "1", "count": 4}}


def test_subscribed_frames_embed_preencoded_parts() -> None:
    snap = orjson.dumps({"article_id": "1", "count": 4})
    fresh = orjson.loads(snapshot_frame("count:1", 7, "e1", 3, snap))
    assert fresh == {"op": "subscribed", "id": 7, "channel": "count:1", "epoch": "e1",
                     "offset": 3, "recovered": False,
                     "snapshot": {"article_id": "1", "count": 4}}
    unsolicited = orjson.loads(snapshot_frame("count:1", None, "e1", 3, snap))
    assert "id" not in unsolicited
    missed = [update_frame("count:1", "e1", n, "count", {"article_id": "1", "count": n})
              for n in (4, 5)]
    resumed = orjson.loads(resume_frame("count:1", None, "e1", 5, missed))
    assert resumed["recovered"] is True
    assert [u["offset"] for u in resumed["missed"]] == [4, 5]


def record(updates: list[dict[str, Any]] | None = None, **data: Any) -> bytes:
    item: dict[str, Any] = {"offset": 1, "kind": "count", "payload": {"article_id": "1",
                                                                      "count": 1},
                            "source_time": "2026-01-01T00:00:00Z"}
    item.update({k: v for k, v in data.items() if k in item})
    base: dict[str, Any] = {"channel": "count:1", "epoch": "e1",
                            "updates": updates if updates is not None else [item]}
    base.update({k: v for k, v in data.items() if k not in item})
    return orjson.dumps({"specversion": "1.0", "type": "feed.updates", "data": base})


def test_parse_updates_reads_a_feed_updates_record() -> None:
    [update] = parse_updates(record(offset=5))
    assert (update.channel, update.epoch, update.offset, update.kind) == ("count:1", "e1", 5,
                                                                          "count")
    assert update.source_time == "2026-01-01T00:00:00Z"


def test_parse_updates_keeps_the_record_order_of_a_batch() -> None:
    items = [{"offset": n, "kind": "count", "payload": {"article_id": "1", "count": n}}
             for n in (7, 8, 9)]
    updates = parse_updates(record(items))
    assert [(u.channel, u.offset, u.payload["count"]) for u in updates] == [
        ("count:1", 7, 7), ("count:1", 8, 8), ("count:1", 9, 9)]
    assert all(u.source_time is None for u in updates)


@pytest.mark.parametrize("raw", [
    b"not json", b"[]", b'{"data": 1}', record(offset=0), record(offset="1"),
    record(epoch=""), record(kind="comment.exploded"), record(payload=[1]), record(channel=None),
    record([]), record([1]),  # type: ignore[list-item]
    record([{"offset": 2, "kind": "count"}]),
])
def test_parse_updates_refuses_unusable_records(raw: bytes) -> None:
    with pytest.raises(BadUpdateError):
        parse_updates(raw)


def test_parse_snapshot_and_history_answers() -> None:
    snap = parse_snapshot({"channel": "count:1", "epoch": "e", "offset": 0,
                           "snapshot": {"count": 0}}, "count:1")
    assert (snap.epoch, snap.offset, snap.state) == ("e", 0, {"count": 0})
    bad_answers: list[object] = [
        {"epoch": "e", "offset": -1, "snapshot": {}}, {"epoch": "e", "offset": 1},
        {"channel": "count:2", "epoch": "e", "offset": 1, "snapshot": {}}, []]
    for bad in bad_answers:
        with pytest.raises(UpstreamError):
            parse_snapshot(bad, "count:1")
    assert parse_history({"comments": [], "cursor": None}) == ([], None)
    assert history_floor({"comments": [], "cursor": None, "floor": 3}) == 3
    assert history_floor({"comments": [], "cursor": None, "floor": True}) is None
    assert history_floor({"comments": [], "cursor": None}) is None
    with pytest.raises(UpstreamError):
        parse_history({"comments": {}, "cursor": None})
