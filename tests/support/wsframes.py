"""Read server-to-client WebSocket frames out of raw bytes, with the `websockets` library's own parser."""

from __future__ import annotations

from websockets.frames import Frame
from websockets.streams import StreamReader


def parse_frames(data: bytes) -> list[Frame]:
    """Every whole frame in `data`, in order; fails if bytes are left over (a frame cut short)."""
    reader = StreamReader()
    reader.feed_data(data)
    frames: list[Frame] = []
    while reader.buffer:
        parser = Frame.parse(reader.read_exact, mask=False)
        try:
            next(parser)
        except StopIteration as done:
            frames.append(done.value)
            continue
        raise AssertionError(f"{len(reader.buffer)} bytes left over: a frame cut short")
    return frames
