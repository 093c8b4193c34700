"""The channel grammar and the id pattern: one definition, and the widget JS agrees with it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from commentfeed import channels
from commentfeed.channels import Channel, check_channel, parse_channel, upstream_channel

STATIC = Path(__file__).resolve().parents[2] / "gateway" / "static"
_JS_ID = re.compile(r"const ID_PATTERN = /(?P<source>[^/]+)/;")


def _js_id_pattern() -> re.Pattern[str]:
    (match,) = [m for f in sorted(STATIC.glob("*.js")) for m in _JS_ID.finditer(f.read_text())]
    # JS's "$" (no m flag) is the end of input, which is Python's "\Z".
    return re.compile(match["source"].removesuffix("$") + r"\Z")


def test_the_js_client_accepts_exactly_the_ids_python_accepts() -> None:
    js = _js_id_pattern()
    python = re.compile(channels.ID_REGEX)
    probes = [chr(c) for c in range(0x300)] + ["a" * 64, "a" * 65, "", "ok-1.2_x", "a\n"]
    for probe in probes:
        assert bool(js.search(probe)) == bool(python.fullmatch(probe)) == channels.is_id(probe), (
            repr(probe))


@pytest.mark.parametrize(("name", "parsed"), [
    ("article:42", Channel("article", "42", "article:42")),
    ("count:a.b-c_d", Channel("count", "a.b-c_d", "count:a.b-c_d")),
    ("recent:news", Channel("recent", "news", "recent:news")),
    ("recent", Channel("recent", "demo", "recent:demo")),
])
def test_channels_in_the_table_parse_into_kind_and_key(name: str, parsed: Channel) -> None:
    assert check_channel(name) == name
    assert parse_channel(name, "demo") == parsed
    assert upstream_channel(name, "demo") == parsed.name


@pytest.mark.parametrize("name", [
    "", "article", "article:", "count:", "recent:", "moderation:site", "article:a b",
    "article:" + "x" * 65, "article:42\n", "ARTICLE:42", "article:42:1",
])
def test_names_outside_the_table_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="unknown channel"):
        check_channel(name)
    with pytest.raises(ValueError, match="unknown channel"):
        parse_channel(name, "demo")
    assert re.fullmatch(channels.CHANNEL_PATTERN, name) is None


def test_the_channel_pattern_agrees_with_the_fast_check() -> None:
    pattern = re.compile(channels.CHANNEL_PATTERN)
    for name in ["article:42", "count:x", "recent", "recent:s", "count:", "recent:", "x:1"]:
        fast = True
        try:
            check_channel(name)
        except ValueError:
            fast = False
        assert (pattern.fullmatch(name) is not None) == fast
