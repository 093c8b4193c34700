"""Summaries of py-spy's collapsed stacks: self and inclusive samples, by function and package."""

from __future__ import annotations

import pytest

from bench.profiles import (
    frame_name,
    package_of,
    parse_collapsed,
    render_summary,
    summarize_profile,
)

PROFILE = """\
main (app.py:3);loop (asyncio/base_events.py:600);write (asyncio/selector_events.py:1050) 6
main (app.py:3);handle (gateway/server.py:250);broadcast (websockets/asyncio/connection.py:1230) 3
main (app.py:3);handle (gateway/server.py:251) 1
 2
"""


def test_frames_lose_their_line_numbers_and_name_their_package() -> None:
    assert frame_name("write (asyncio/selector_events.py:1050)") == (
        "write (asyncio/selector_events.py)")
    assert package_of("write (asyncio/selector_events.py:1050)") == "asyncio"
    assert package_of("select (selectors.py:469)") == "selectors"
    assert package_of("_run_code (<frozen runpy>:88)") == "<frozen runpy>"
    assert frame_name("not a frame") == "not a frame"


def test_self_and_inclusive_samples_add_up() -> None:
    summary = summarize_profile(parse_collapsed(PROFILE.splitlines()))
    assert summary.samples == 12
    assert summary.self_by_function["write (asyncio/selector_events.py)"] == 6
    assert summary.self_by_function["handle (gateway/server.py)"] == 1
    assert summary.self_by_function["<unknown>"] == 2  # an empty stack py-spy could not unwind
    # A function counts once per stack however deep: handle appears in two stacks (3 + 1).
    assert summary.inclusive_by_function["handle (gateway/server.py)"] == 4
    assert summary.inclusive_by_function["main (app.py)"] == 10
    assert summary.self_by_package == {"asyncio": 6, "websockets": 3, "gateway": 1, "?": 2}
    assert summary.share(6) == pytest.approx(0.5)


def test_render_lists_the_heaviest_first() -> None:
    text = render_summary("gateway", summarize_profile(parse_collapsed(PROFILE.splitlines())))
    lines = text.splitlines()
    assert lines[0] == "gateway: 12 samples"
    assert lines[1].startswith("  self time by package: asyncio 50%, websockets 25%")
    assert "50.0%  write (asyncio/selector_events.py)" in lines[3]


def test_a_line_without_a_count_is_refused() -> None:
    with pytest.raises(ValueError, match="collapsed stack"):
        parse_collapsed(["main (app.py:3) many"])
