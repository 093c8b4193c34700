"""Coalesced socket writes for the gateway's fan-out: every frame a connection is due from one
batch of work goes out in one transport write (issue 11).

The protocol is unchanged (one websocket frame per update); what changes is how the frames reach
the socket. ``websockets.broadcast`` frames the same message again for every connection and
writes each frame on its own, and those writes were most of the gateway's CPU. Here a text frame
is framed once (:class:`Wire`: no mask, the server side; no extension), every connection's
frames are gathered in order in an :class:`Outbox` while a batch of ``feed.updates`` records is
applied, and :func:`write_frames` hands them to the transport joined.

The slow-consumer limit stays exact. A connection is closed when its unsent bytes pass the limit
(the transport's high-water mark calls ``pause_writing``, which queues the close frame): written
frame by frame, the frame that crossed the limit was the last one buffered. Joined writes keep
that: a run of frames ends at the first frame that could take the unsent bytes over the limit
(counted as if the kernel took nothing), that run is written, and the next run is written only
while the connection is still open. In the usual case (nothing unsent, a batch well under the
limit) that is one write per connection per batch.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Generic, Protocol, TypeVar

from websockets.frames import Frame, Opcode

H = TypeVar("H", bound=Hashable)


class Wire:
    """One text frame: its payload and its bytes on the wire, framed once for every receiver."""

    __slots__ = ("data", "payload")

    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        #: Unmasked, no extension: what a server without compression writes for this frame.
        self.data = Frame(Opcode.TEXT, payload).serialize(mask=False)


class Outbox(Generic[H]):
    """The frames each connection is due, in the order they were produced."""

    __slots__ = ("queued",)

    def __init__(self) -> None:
        self.queued: dict[H, list[Wire]] = {}

    def add(self, handles: Iterable[H], wire: Wire) -> None:
        """Queue ``wire`` for every handle (iterated now: it may be a live set)."""
        queued = self.queued
        for handle in handles:
            frames = queued.get(handle)
            if frames is None:
                queued[handle] = [wire]
            else:
                frames.append(wire)

    def __len__(self) -> int:
        return len(self.queued)


class Transport(Protocol):
    """What :func:`write_frames` needs of an asyncio (or uvloop) write transport."""

    def write(self, data: bytes) -> None: ...

    def get_write_buffer_size(self) -> int: ...


def run_end(frames: Sequence[bytes], start: int, room: int) -> int:
    """Where the run of ``frames`` from ``start`` to write in one go ends (exclusive).

    The run takes frames while their total stays within ``room`` (the bytes the transport may
    still hold before the limit), and the frame that goes over it: that frame's write is the one
    that crosses the limit, as it would be written frame by frame. At least one frame.
    """
    total = 0
    for i in range(start, len(frames)):
        total += len(frames[i])
        if total > room:
            return i + 1
    return len(frames)


def write_frames(transport: Transport, frames: Sequence[bytes], limit: int | None,
                 is_open: Callable[[], bool]) -> int:
    """Write ``frames`` in order in as few writes as the unsent-bytes ``limit`` allows.

    ``is_open`` says whether the connection still takes frames: crossing the limit starts its
    closing handshake, and no frame may follow the close frame. Returns the frames written.
    """
    if not frames:
        return 0
    if limit is None:
        transport.write(frames[0] if len(frames) == 1 else b"".join(frames))
        return len(frames)
    start, count = 0, len(frames)
    while start < count and is_open():
        end = run_end(frames, start, limit - transport.get_write_buffer_size())
        transport.write(frames[start] if end == start + 1 else b"".join(frames[start:end]))
        start = end
    return start
