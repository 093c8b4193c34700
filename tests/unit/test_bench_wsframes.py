"""The benchmark client's websocket framing and handshake, against RFC 6455's examples."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.wsframes import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONTINUATION,
    OP_PING,
    OP_TEXT,
    FrameParser,
    WebSocketProtocolError,
    accept_key,
    check_handshake_response,
    close_payload,
    encode_frame,
    handshake_request,
    mask,
    parse_close,
)


def test_accept_key_matches_the_rfc_example() -> None:
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_handshake_request_names_the_key_and_version() -> None:
    text = handshake_request("127.0.0.1", 8765, "/ws", "abc=").decode()
    assert text.startswith("GET /ws HTTP/1.1\r\nHost: 127.0.0.1:8765\r\n")
    assert "Sec-WebSocket-Key: abc=\r\n" in text
    assert "Sec-WebSocket-Version: 13\r\n" in text
    assert text.endswith("\r\n\r\n")


def test_handshake_response_must_be_101_with_the_right_accept() -> None:
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    good = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    check_handshake_response(good, key)
    with pytest.raises(WebSocketProtocolError, match="refused"):
        check_handshake_response(b"HTTP/1.1 403 Forbidden\r\n", key)
    with pytest.raises(WebSocketProtocolError, match="Accept"):
        check_handshake_response(good.replace(b"s3p", b"xxx"), key)


def test_rfc_example_frames_parse() -> None:
    # RFC 6455 section 5.7: unmasked and masked "Hello", a fragmented one, a ping.
    parser = FrameParser()
    assert parser.feed(bytes.fromhex("810548656c6c6f")) == [(OP_TEXT, b"Hello")]
    assert parser.feed(bytes.fromhex("818537fa213d7f9f4d5158")) == [(OP_TEXT, b"Hello")]
    assert parser.feed(bytes.fromhex("010348656c")) == []
    assert parser.feed(bytes.fromhex("80026c6f")) == [(OP_TEXT, b"Hello")]
    assert parser.feed(bytes.fromhex("890548656c6c6f")) == [(OP_PING, b"Hello")]


def test_frames_split_anywhere_come_out_whole_and_in_order() -> None:
    stream = (encode_frame(OP_TEXT, b"a" * 300) + encode_frame(OP_BINARY, b"b" * 70_000)
              + encode_frame(OP_TEXT, b"c"))
    parser = FrameParser()
    out = []
    for i in range(0, len(stream), 7):
        out.extend(parser.feed(stream[i:i + 7]))
    assert out == [(OP_TEXT, b"a" * 300), (OP_BINARY, b"b" * 70_000), (OP_TEXT, b"c")]


def test_a_control_frame_between_fragments_comes_out_at_once() -> None:
    parser = FrameParser()
    first = bytes([OP_TEXT, 2]) + b"ab"
    ping = encode_frame(OP_PING, b"p")
    last = bytes([0x80 | OP_CONTINUATION, 2]) + b"cd"
    assert parser.feed(first + ping + last) == [(OP_PING, b"p"), (OP_TEXT, b"abcd")]


@given(st.binary(max_size=70_000), st.binary(min_size=4, max_size=4))
def test_masked_frames_round_trip(payload: bytes, key: bytes) -> None:
    assert mask(mask(payload, key), key) == payload
    assert FrameParser().feed(encode_frame(OP_TEXT, payload, key)) == [(OP_TEXT, payload)]


def test_protocol_violations_are_refused() -> None:
    with pytest.raises(WebSocketProtocolError, match="reserved"):
        FrameParser().feed(bytes([0xC1, 0]))
    with pytest.raises(WebSocketProtocolError, match="continuation"):
        FrameParser().feed(bytes([0x80 | OP_CONTINUATION, 0]))
    with pytest.raises(WebSocketProtocolError, match="control"):
        FrameParser().feed(bytes([OP_PING, 0]))
    with pytest.raises(WebSocketProtocolError, match="opcode"):
        FrameParser().feed(bytes([0x83, 0]))
    with pytest.raises(WebSocketProtocolError, match="over the limit"):
        FrameParser(max_frame_bytes=10).feed(bytes([0x81, 11]) + b"x" * 11)
    with pytest.raises(ValueError, match="4 bytes"):
        encode_frame(OP_TEXT, b"x", b"abc")


def test_close_payload_round_trips() -> None:
    assert parse_close(close_payload(4000, "slow_consumer")) == (4000, "slow_consumer")
    assert parse_close(b"") == (None, "")
    assert FrameParser().feed(encode_frame(OP_CLOSE, close_payload(1001))) == [
        (OP_CLOSE, b"\x03\xe9")]
