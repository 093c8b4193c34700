"""gateway.outbox: frames framed once, queued per connection in order, and written in runs that
end at the frame crossing the unsent-bytes limit."""

from __future__ import annotations

from websockets.frames import Frame
from websockets.streams import StreamReader

from gateway.outbox import Outbox, Wire, run_end, write_frames


def parse_frames(data: bytes) -> list[bytes]:
    """The payloads of the unmasked text frames in ``data`` (websockets' own parser)."""
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    payloads = []
    while reader.buffer:
        parser = Frame.parse(reader.read_exact, mask=False)
        try:
            next(parser)
        except StopIteration as done:
            frame = done.value
            assert frame.opcode.name == "TEXT"
            assert frame.fin
            payloads.append(bytes(frame.data))
    return payloads


def test_a_wire_frame_is_the_text_frame_websockets_would_send() -> None:
    for size in (0, 125, 126, 65535, 65536):
        payload = b"x" * size
        assert parse_frames(Wire(payload).data) == [payload]


def test_the_outbox_keeps_each_connections_frames_in_order() -> None:
    box: Outbox[str] = Outbox()
    one, two, three = Wire(b"1"), Wire(b"2"), Wire(b"3")
    box.add({"a", "b"}, one)
    box.add(("b",), two)
    box.add(["a", "b", "c"], three)
    assert {h: [w.payload for w in ws] for h, ws in box.queued.items()} == {
        "a": [b"1", b"3"], "b": [b"1", b"2", b"3"], "c": [b"3"]}
    assert box.queued["a"][0] is box.queued["b"][0]  # framed once, shared


def test_a_run_ends_at_the_frame_that_goes_over_the_room() -> None:
    frames = [b"x" * 10] * 5
    assert run_end(frames, 0, 100) == 5
    assert run_end(frames, 0, 30) == 4  # 40 > 30: the fourth frame crosses, and is included
    assert run_end(frames, 0, 29) == 3
    assert run_end(frames, 3, 10) == 5
    assert run_end(frames, 2, 0) == 3  # no room at all: one frame at a time
    assert run_end(frames, 2, -5) == 3


class Buffering:
    """A transport whose peer reads nothing: every byte written stays unsent; crossing the
    high-water mark "closes" the connection as the gateway's ``pause_writing`` does."""

    def __init__(self, high: int) -> None:
        self.high = high
        self.writes: list[bytes] = []
        self.open = True

    def write(self, data: bytes) -> None:
        self.writes.append(data)
        if self.get_write_buffer_size() > self.high:
            self.open = False

    def get_write_buffer_size(self) -> int:
        return sum(map(len, self.writes))


def test_frames_under_the_limit_go_in_one_write() -> None:
    transport = Buffering(high=1000)
    frames = [Wire(b"%d" % i).data for i in range(20)]
    assert write_frames(transport, frames, 1000, lambda: transport.open) == 20
    assert transport.writes == [b"".join(frames)]


def test_no_frame_follows_the_one_that_crossed_the_limit() -> None:
    transport = Buffering(high=100)
    frames = [Wire(b"x" * 28).data for _ in range(10)]  # 30 bytes each on the wire
    written = write_frames(transport, frames, 100, lambda: transport.open)
    # Frame by frame, the fourth (120 bytes unsent > 100) crossed the limit and was the last.
    assert written == 4
    assert transport.writes == [b"".join(frames[:4])]
    assert not transport.open


def test_a_run_is_cut_where_the_kernel_might_have_taken_bytes() -> None:
    class Draining(Buffering):
        """Half of each write leaves at once: the limit is reached later than counted."""

        def write(self, data: bytes) -> None:
            super().write(data[: len(data) // 2])

    transport = Draining(high=100)
    frames = [Wire(b"x" * 28).data for _ in range(12)]
    written = write_frames(transport, frames, 100, lambda: transport.open)
    assert not transport.open
    assert written < 12
    assert sum(map(len, transport.writes)) * 2 == 30 * written
    assert len(transport.writes) > 1


def test_no_limit_is_one_write() -> None:
    transport = Buffering(high=10)
    frames = [Wire(b"x" * 28).data for _ in range(10)]
    assert write_frames(transport, frames, None, lambda: False) == 10
    assert transport.writes == [b"".join(frames)]
