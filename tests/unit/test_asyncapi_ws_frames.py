"""The websocket frame models and code tables say what docs/protocol.md says, and the gateway's
own parser and frame builders agree with the AsyncAPI schemas in both directions."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from pydantic import BaseModel, TypeAdapter, ValidationError

from commentfeed import channels
from commentfeed.events import Author, CommentView
from contract import asyncapi
from gateway import frames, protocol
from gateway.exceptions import FrameError

PROTOCOL = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text("utf-8")


def _section(title: str) -> str:
    start = PROTOCOL.index(title)
    end = PROTOCOL.find("\n## ", start + len(title))
    return PROTOCOL[start:end if end != -1 else None]


def _table_rows(text: str) -> list[list[str]]:
    rows = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in text.splitlines() if line.startswith("|")
    ]
    return [row for row in rows[2:] if row]  # drop the header and the ---|--- line


def _doc_frames() -> list[dict[str, Any]]:
    """Every complete frame in the doc's JSON examples (placeholders like "…" left out)."""
    frames = []
    for block in re.findall(r"```json\n(.*?)```", PROTOCOL, re.S):
        for candidate in [block, *block.splitlines()]:
            try:
                frame = json.loads(candidate)
            except json.JSONDecodeError:
                continue
            if isinstance(frame, dict) and "…" not in candidate:
                frames.append(frame)
    return frames


def test_close_codes_match_the_protocol_doc() -> None:
    rows = _table_rows(_section("## Close codes"))
    assert rows == [
        [c.label, c.name, c.reconnect, c.when] for c in protocol.CLOSE_CODES
    ]


def test_error_codes_match_the_protocol_doc() -> None:
    rows = _table_rows(_section("### error"))
    documented = {
        code.strip("`"): meaning.replace("the table above", "the channel table")
        for code, meaning in rows
    }
    assert documented == {code.value: text for code, text in protocol.ERROR_CODES.items()}
    assert list(documented) == [code.value for code in protocol.ERROR_CODES]


def test_channel_pattern_accepts_the_documented_channels_only() -> None:
    pattern = re.compile(channels.CHANNEL_PATTERN)
    for good in ("article:42", "count:harbour-bridge-reopens", "recent", "recent:demo"):
        assert pattern.match(good), good
    for bad in ("article:", "articles:42", "recent:", "count:a b", "article:" + "x" * 65):
        assert not pattern.match(bad), bad


_CLIENT: dict[str, type[BaseModel]] = {
    "subscribe": protocol.Subscribe, "unsubscribe": protocol.Unsubscribe,
    "history": protocol.HistoryRequest, "ping": protocol.Ping,
}
_SERVER: dict[str, type[BaseModel]] = {
    "subscribed": protocol.Subscribed, "pong": protocol.Pong,
    "unsubscribed": protocol.Unsubscribed, "error": protocol.ErrorFrame,
}


def test_the_docs_example_frames_are_valid_frames() -> None:
    frames = _doc_frames()
    assert {f["op"] for f in frames} >= {"subscribe", "unsubscribe", "history", "ping", "error"}
    for frame in frames:
        model = _CLIENT.get(frame["op"]) or _SERVER[frame["op"]]
        assert model.model_validate(frame).model_dump()["op"] == frame["op"]


def test_an_update_frame_is_chosen_by_its_type() -> None:
    update = TypeAdapter(protocol.Update).validate_python({
        "op": "update", "channel": "count:42", "epoch": "e1", "offset": 3, "type": "count",
        "data": {"article_id": "42", "count": 7},
    })
    assert isinstance(update, protocol.CountUpdate)
    assert update.data.count == 7


def test_frames_ignore_unknown_fields_and_reject_bad_limits() -> None:
    ping = protocol.Ping.model_validate({"op": "ping", "id": "a", "trace": "x"})
    assert ping.id == "a"
    with pytest.raises(ValidationError) as err:
        protocol.HistoryRequest.model_validate(
            {"op": "history", "channel": "article:42", "limit": 101})
    assert err.value.errors()[0]["loc"] == ("limit",)


# -- the gateway's own parser and frame builders agree with the AsyncAPI schemas ---------------

_DOCUMENT: dict[str, Any] = yaml.safe_load(asyncapi.DOC_PATH.read_text(encoding="utf-8"))


def _validator(message: str) -> Draft202012Validator:
    ref = _DOCUMENT["components"]["messages"][message]["payload"]["$ref"]
    return Draft202012Validator(
        {"$ref": ref, "components": _DOCUMENT["components"]},
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


_COMMENT = CommentView(
    comment_id="c-1", article_id="42", parent_id=None, author=Author(id="u-1", name="Ann"),
    body="Hello.", posted_at=datetime(2026, 3, 14, 9, 30, tzinfo=UTC),
).model_dump(mode="json")
_PAYLOADS: dict[str, dict[str, Any]] = {
    "comment.added": _COMMENT,
    "comment.updated": {**_COMMENT, "body": "Hello again.", "edited_at": "2026-03-14T09:31:00Z"},
    "comment.removed": {"comment_id": "c-1", "article_id": "42", "reason": "hidden"},
    "comment.score": {"comment_id": "c-1", "article_id": "42", "score": -2},
    "count": {"article_id": "42", "count": 7},
    "article": {"article_id": "42", "site": "demo", "title": "T", "url": "https://x.example/42",
                "author": "A", "published_at": "2026-03-14T09:00:00Z", "closed": True,
                "deleted": False},
    "recent": {"site": "demo", "items": [{
        "comment_id": "c-1", "article_id": "42", "author_name": "Ann", "excerpt": "Hello.",
        "posted_at": "2026-03-14T09:30:00Z"}]},
}


@pytest.mark.parametrize("kind", sorted(_PAYLOADS))
def test_gateway_update_frames_match_the_schema(kind: str) -> None:
    channel = "recent:demo" if kind == "recent" else "article:42"
    frame = frames.update_frame(channel, "e1", 3, kind, _PAYLOADS[kind])
    _validator("update").validate(json.loads(frame))


def test_gateway_replies_match_the_schemas() -> None:
    article = {"article": _PAYLOADS["article"], "count": 1, "comments": [_COMMENT],
               "cursor": "c1"}
    missed = [frames.update_frame("count:42", "e1", 5, "count", _PAYLOADS["count"])]
    cases = {
        "subscribed": [
            frames.snapshot_frame("article:42", 1, "e1", 4, json.dumps(article).encode()),
            frames.snapshot_frame("count:42", "a", "e1", 4, b'{"article_id":"42","count":1}'),
            frames.snapshot_frame("recent", None, "e1", 9,
                                  json.dumps(_PAYLOADS["recent"]).encode()),
            frames.resume_frame("count:42", 2, "e1", 5, missed),
            frames.resume_frame("count:42", None, "e1", 4, []),
        ],
        "historyPage": [frames.history_frame("article:42", 4, [_COMMENT], None)],
        "pong": [frames.pong_frame(5), frames.pong_frame(None)],
        "unsubscribed": [frames.unsubscribed_frame("count:42", "x")],
        "error": [frames.error_frame(code, "why", 1) for code in protocol.ErrorCode],
    }
    for message, built in cases.items():
        for frame in built:
            _validator(message).validate(json.loads(frame))


_CLIENT_MESSAGES = {"subscribe": "subscribe", "unsubscribe": "unsubscribe",
                    "history": "historyRequest", "ping": "ping"}


def test_the_gateway_accepts_every_client_example() -> None:
    for message in _CLIENT_MESSAGES.values():
        example = _DOCUMENT["components"]["messages"][message]["examples"][0]["payload"]
        request = frames.parse_request(json.dumps(example))
        assert request.id == example["id"]
        assert getattr(request, "channel", None) == example.get("channel")
        # The fast parser builds the very model that full validation would.
        assert request == type(request).model_validate(example)


@pytest.mark.parametrize("frame", [
    {"op": "subscribe", "channel": "articles:42"},
    {"op": "subscribe", "channel": "article:42", "since": {"epoch": "", "offset": 1}},
    {"op": "subscribe", "channel": "article:42", "since": {"epoch": "e1", "offset": -1}},
    {"op": "subscribe", "channel": "article:42", "id": "x" * 65},
    {"op": "subscribe", "channel": "article:42", "id": True},
    {"op": "history", "channel": "count:42"},
    {"op": "history", "channel": "article:42", "limit": 0},
    {"op": "history", "channel": "article:42", "before": "c" * 513},
    {"op": "unsubscribe"},
])
def test_a_frame_the_gateway_refuses_is_invalid_by_the_schema(frame: dict[str, Any]) -> None:
    with pytest.raises(FrameError):
        frames.parse_request(json.dumps(frame))
    assert list(_validator(_CLIENT_MESSAGES[frame["op"]]).iter_errors(frame))
