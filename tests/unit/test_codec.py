"""The event contract and its codec, with plain calls."""

from __future__ import annotations

import base64
import unicodedata

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from commentfeed import codec
from commentfeed import events as events_module
from commentfeed.demo_data import LEAD_ARTICLE_ID, demo_events
from commentfeed.errors import EventDecodeError
from commentfeed.events import (
    CommentPosted,
    CommentVoted,
    CommentVotedData,
)


def _posted_bytes() -> bytes:
    event = next(e for e in demo_events() if isinstance(e, CommentPosted))
    return codec.encode(event)


def test_every_demo_event_round_trips_through_the_codec() -> None:
    for event in demo_events():
        assert codec.decode_input(codec.encode(event)) == event


def test_wire_format_is_a_cloudevents_structured_envelope() -> None:
    doc = orjson.loads(_posted_bytes())
    assert doc["specversion"] == "1.0"
    assert doc["type"] == "comment.posted"
    assert doc["subject"] == LEAD_ARTICLE_ID
    assert doc["datacontenttype"] == "application/json"
    assert doc["time"].endswith("Z")
    assert set(doc["data"]) >= {"comment_id", "article_id", "site", "parent_id", "author", "body",
                                "posted_at", "status"}


def test_invalid_json_is_a_typed_error() -> None:
    with pytest.raises(EventDecodeError) as info:
        codec.decode_input(b"{not json")
    assert info.value.reason == "invalid_json"
    assert info.value.field is None
    assert info.value.raw == b"{not json"


def test_wrong_field_is_named_in_the_error() -> None:
    doc = orjson.loads(_posted_bytes())
    doc["data"]["author"]["id"] = "has spaces"
    with pytest.raises(EventDecodeError) as info:
        codec.decode_input(orjson.dumps(doc))
    assert info.value.reason == "invalid_event"
    assert info.value.field == "data.author.id"


def test_missing_field_is_named_in_the_error() -> None:
    doc = orjson.loads(_posted_bytes())
    del doc["data"]["body"]
    with pytest.raises(EventDecodeError) as info:
        codec.decode_input(orjson.dumps(doc))
    assert info.value.field == "data.body"


def test_unknown_type_is_reported_as_such() -> None:
    doc = orjson.loads(_posted_bytes())
    doc["type"] = "comment.liked"
    with pytest.raises(EventDecodeError) as info:
        codec.decode_input(orjson.dumps(doc))
    assert (info.value.reason, info.value.field) == ("unknown_type", "type")


def test_comment_event_on_the_articles_decoder_is_refused() -> None:
    with pytest.raises(EventDecodeError) as info:
        codec.decode_article_event(_posted_bytes())
    assert info.value.reason == "unknown_type"


def test_oversized_record_is_refused_before_parsing() -> None:
    with pytest.raises(EventDecodeError) as info:
        codec.decode_input(b" " * (codec.MAX_EVENT_BYTES + 1))
    assert info.value.reason == "too_large"


def test_vote_value_outside_minus_one_to_one_is_refused() -> None:
    vote = CommentVoted(subject="a", data=CommentVotedData(
        comment_id="c", article_id="a", site="s", voter_id="v", value=1))
    doc = orjson.loads(codec.encode(vote))
    doc["data"]["value"] = 2
    with pytest.raises(EventDecodeError) as info:
        codec.decode_comment_event(orjson.dumps(doc))
    assert info.value.field == "data.value"


def test_dead_letter_keeps_original_bytes_and_reason() -> None:
    raw = b"\xff\xfe not utf-8"
    with pytest.raises(EventDecodeError) as info:
        codec.decode_input(raw)
    letter = codec.dead_letter(info.value, raw=raw, topic="comments", partition=2, offset=7,
                               key=b"a1")
    back = codec.decode_dead_letter(codec.encode(letter))
    assert base64.b64decode(back.original_b64) == raw
    assert (back.reason, back.topic, back.partition, back.offset, back.key) == (
        "invalid_json", "comments", 2, 7, "a1")

    assert (back.original_size, back.truncated) == (len(raw), False)


def test_dead_letter_of_a_huge_record_fits_the_broker_limit_and_says_it_is_a_prefix() -> None:
    raw = b"x" * 800_000
    key = b"k" * 5_000
    with pytest.raises(EventDecodeError) as info:
        codec.decode_input(raw)
    wire = codec.encode(codec.dead_letter(info.value, raw=raw, topic="comments", partition=0,
                                          offset=1, key=key))
    # Far below the producer's default 1 MiB request limit, whatever the input size.
    assert len(wire) < 2 * codec.MAX_DEAD_LETTER_ORIGINAL
    back = codec.decode_dead_letter(wire)
    assert base64.b64decode(back.original_b64) == raw[:codec.MAX_DEAD_LETTER_ORIGINAL]
    assert (back.reason, back.original_size, back.truncated) == ("too_large", 800_000, True)
    assert back.key == "k" * codec.MAX_DEAD_LETTER_KEY


def test_dead_letter_for_an_unexpected_exception_bounds_its_detail() -> None:
    letter = codec.dead_letter(ValueError("y" * 10_000), raw=b"{}", topic="comments",
                               partition=0, offset=2, key=None)
    assert letter.reason == "processing_failed"
    assert letter.detail.startswith("ValueError: yyy")
    assert len(letter.detail) == codec.MAX_DEAD_LETTER_DETAIL

@given(st.binary(max_size=512))
def test_arbitrary_bytes_never_escape_as_anything_but_the_typed_error(raw: bytes) -> None:
    with pytest.raises(EventDecodeError) as info:
        codec.decode_input(raw)
    assert info.value.reason in {"invalid_json", "invalid_event", "unknown_type", "too_large"}


def _printable_by_category(text: str, *, lines: bool) -> bool:
    """The rule for text fields spelled out one character at a time (the reference)."""
    for ch in text:
        category = unicodedata.category(ch)
        if category == "Cs" or (category == "Cc" and not (lines and ch in "\n\r\t")):
            return False
    return any(unicodedata.category(ch) not in {"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"}
               for ch in text)


@given(st.text(alphabet=st.one_of(st.characters(), st.sampled_from(
    ["\ud800", "\x85", "\x00", "\x7f", "\n", "\t", "\r", "\u200b", " ", "a"])),
    max_size=40), st.booleans())
def test_the_fast_text_check_agrees_with_unicode_categories(text: str, lines: bool) -> None:
    check = events_module._multi_line if lines else events_module._one_line
    try:
        check(text)
        accepted = True
    except ValueError:
        accepted = False
    assert accepted == _printable_by_category(text, lines=lines)


@pytest.mark.parametrize(("text", "lines", "accepted"), [
    ("Hello", False, True), ("a\nb", True, True), ("a\nb", False, False),
    ("\u200b\u00a0 ", True, False), ("caf\u00e9", False, True), ("\u00e9", False, True),
    ("x\x00", True, False), ("x\x85", True, False), ("x\ud800", True, False),
    ("\u4e2d", False, True), ("\t\t", True, False),
])
def test_text_check_examples(text: str, lines: bool, accepted: bool) -> None:
    check = events_module._multi_line if lines else events_module._one_line
    if accepted:
        assert check(text) == text
    else:
        with pytest.raises(ValueError, match=r"surrogate|control|visible"):
            check(text)
