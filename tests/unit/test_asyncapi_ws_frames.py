"""The websocket frame models and code tables say what docs/protocol.md says."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from commentfeed import ws_frames

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
        [str(c.code), c.name, c.reconnect, c.when] for c in ws_frames.CLOSE_CODES
    ]


def test_error_codes_match_the_protocol_doc() -> None:
    rows = _table_rows(_section("### error"))
    documented = {code.strip("`"): meaning for code, meaning in rows}
    assert list(documented) == list(ws_frames.ERROR_CODES)


def test_channel_pattern_accepts_the_documented_channels_only() -> None:
    pattern = re.compile(ws_frames.CHANNEL_PATTERN)
    for good in ("article:42", "count:harbour-bridge-reopens", "recent", "recent:demo"):
        assert pattern.match(good), good
    for bad in ("article:", "articles:42", "recent:", "count:a b", "article:" + "x" * 65):
        assert not pattern.match(bad), bad


_CLIENT: dict[str, type[BaseModel]] = {
    "subscribe": ws_frames.Subscribe, "unsubscribe": ws_frames.Unsubscribe,
    "history": ws_frames.HistoryRequest, "ping": ws_frames.Ping,
}
_SERVER: dict[str, type[BaseModel]] = {
    "subscribed": ws_frames.Subscribed, "pong": ws_frames.Pong,
    "unsubscribed": ws_frames.Unsubscribed, "error": ws_frames.ErrorFrame,
}


def test_the_docs_example_frames_are_valid_frames() -> None:
    frames = _doc_frames()
    assert {f["op"] for f in frames} >= {"subscribe", "unsubscribe", "history", "ping", "error"}
    for frame in frames:
        model = _CLIENT.get(frame["op"]) or _SERVER[frame["op"]]
        assert model.model_validate(frame).model_dump()["op"] == frame["op"]


def test_an_update_frame_is_chosen_by_its_type() -> None:
    update = TypeAdapter(ws_frames.Update).validate_python({
        "op": "update", "channel": "count:42", "epoch": "e1", "offset": 3, "type": "count",
        "data": {"article_id": "42", "count": 7},
    })
    assert isinstance(update, ws_frames.CountUpdate)
    assert update.data.count == 7


def test_frames_ignore_unknown_fields_and_reject_bad_limits() -> None:
    ping = ws_frames.Ping.model_validate({"op": "ping", "id": "a", "trace": "x"})
    assert ping.id == "a"
    with pytest.raises(ValidationError) as err:
        ws_frames.HistoryRequest.model_validate(
            {"op": "history", "channel": "article:42", "limit": 101})
    assert err.value.errors()[0]["loc"] == ("limit",)
