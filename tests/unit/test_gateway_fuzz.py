"""Fuzzing the core: arbitrary client frames and upstream records never raise.

Whatever a client sends, the core answers with documented frames only (error frames carry a
documented code) and closes only with a documented code. Whatever ``feed.updates`` or the
streams API hold, the core keeps running.
"""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commentfeed.channels import UPDATE_KINDS, ChannelUpdate
from gateway.core import Action, Broadcast, Close, Config, Core, FetchSnapshot, Limits, Send
from gateway.exceptions import BadUpdateError
from gateway.frames import Snapshot, parse_updates
from gateway.protocol import ErrorCode

SERVER_OPS = {"subscribed", "unsubscribed", "update", "history", "pong", "error"}
ERROR_CODES = {code.value for code in ErrorCode}

json_leaf = st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(
    allow_nan=False) | st.text(max_size=20)
json_value = st.recursive(json_leaf, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    st.text(max_size=8), inner, max_size=4), max_leaves=12)
channels = st.sampled_from(["article:42", "count:42", "recent", "recent:demo", "count:x", "",
                            "article:", "bogus:1", "article:a b"]) | st.text(max_size=12)
frame_docs = st.fixed_dictionaries(
    {"op": st.sampled_from(["subscribe", "unsubscribe", "history", "ping", "pong", ""])
     | json_value},
    optional={"channel": channels | json_value,
              "id": st.integers(-(2**63), 2**64 - 1) | st.text(max_size=70) | json_value,
              "since": st.fixed_dictionaries(
                  {"epoch": st.text(max_size=5) | json_value,
                   "offset": st.integers(-3, 50) | json_value}) | json_value,
              "before": st.text(max_size=10) | json_value,
              "limit": st.integers(-5, 200) | json_value},
)
raw_frames = (frame_docs.map(lambda d: orjson.dumps(d).decode()) | st.text(max_size=60)
              | st.binary(max_size=60) | json_value.map(lambda v: orjson.dumps(v).decode()))


def check(actions: list[Action[str]]) -> None:
    for action in actions:
        if isinstance(action, Send | Broadcast):
            frame = orjson.loads(action.frame)
            assert frame["op"] in SERVER_OPS
            if frame["op"] == "error":
                assert frame["code"] in ERROR_CODES
        elif isinstance(action, Close):
            assert action.code == 4001


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(raw_frames, min_size=1, max_size=30), st.booleans())
def test_any_client_frames_get_documented_answers_only(frames: list[str | bytes],
                                                       snapshots_arrive: bool) -> None:
    gw: Core[str] = Core(Config(limits=Limits(max_errors=10)))
    gw.connect("c", 0.0)
    for i, raw in enumerate(frames):
        actions = gw.receive("c", raw, i * 0.01)
        check(actions)
        for action in actions:
            if isinstance(action, FetchSnapshot) and snapshots_arrive:
                check(gw.snapshot_fetched(action.channel, Snapshot("e", 3, {"count": 1}), i))
    gw.disconnect("c", 1.0)
    assert gw.subscription_count == 0


updates = st.builds(
    ChannelUpdate,
    channel=st.sampled_from(["article:42", "count:42"]),
    epoch=st.sampled_from(["e1", "e2"]),
    offset=st.integers(1, 12),
    kind=st.sampled_from(["comment.added", "comment.updated", "comment.removed",
                          "comment.score", "count", "recent", "article"]),
    payload=st.dictionaries(st.sampled_from(["comment_id", "posted_at", "count", "score",
                                             "site", "items", "article_id"]), json_value,
                            max_size=5),
)
states = st.dictionaries(st.sampled_from(["comments", "count", "cursor", "article"]), json_value,
                         max_size=4)


@settings(max_examples=200, deadline=None)
@given(st.lists(updates | states, max_size=40))
def test_any_upstream_input_keeps_the_core_running(
        events: list[ChannelUpdate | dict[str, Any]]) -> None:
    gw: Core[str] = Core(Config(snapshot_comments=3))
    gw.connect("c", 0.0)
    gw.receive("c", '{"op":"subscribe","channel":"article:42"}', 0.0)
    gw.receive("c", '{"op":"subscribe","channel":"count:42"}', 0.0)
    for i, event in enumerate(events):
        if isinstance(event, ChannelUpdate):
            check(gw.receive_update(event, float(i)))
        else:
            for channel in ("article:42", "count:42"):
                check(gw.snapshot_fetched(channel, Snapshot("e1", i % 5, dict(event)), float(i)))
        check(gw.receive("c", '{"op":"subscribe","channel":"article:42"}', float(i)))
        check(gw.sweep(float(i)))


@given(st.binary(max_size=200) | json_value.map(orjson.dumps))
def test_any_record_parses_or_raises_bad_update(raw: bytes) -> None:
    try:
        parsed = parse_updates(raw)
    except BadUpdateError:
        return
    assert parsed
    for update in parsed:
        assert update.offset >= 1
        assert update.kind in UPDATE_KINDS
        assert isinstance(update.payload, dict)
