"""Network audio: the interface the firmware bridge (satellites, Wyoming) plugs into the live loop.

The bridge owns the sockets; it pushes what a satellite hears into a `NetworkSource` (from its
event loop, never blocking: a full queue drops the oldest frame and counts it) and receives the
replies a `NetworkSink` is given through the `send` callable it passes in.
"""

from __future__ import annotations

import abc
import logging
import queue
from collections.abc import Callable, Iterator

import numpy as np

from edge.audio.stream import AudioSink, FrameSource, to_int16

logger = logging.getLogger(__name__)

_END = None


class NetworkSource(FrameSource):
    """Frames pushed by a network peer; `finish()` ends the stream (the peer went away)."""

    def __init__(self, max_frames: int = 64) -> None:
        self._queue: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=max_frames)
        self.dropped_frames = 0

    def push(self, frame: np.ndarray) -> None:
        """Called by the bridge for each 16 kHz mono int16 frame; never blocks."""
        self._offer(to_int16(np.asarray(frame)))

    def finish(self) -> None:
        self._offer(_END)

    def _offer(self, item: np.ndarray | None) -> None:
        while True:
            try:
                self._queue.put_nowait(item)
                return
            except queue.Full:
                try:
                    self._queue.get_nowait()
                    self.dropped_frames += 1
                except queue.Empty:
                    pass

    def frames(self) -> Iterator[np.ndarray]:
        while (frame := self._queue.get()) is not _END:
            yield frame


class NetworkSink(AudioSink, abc.ABC):
    """Reply audio to a peer. Subclasses (in firmware_bridge/) say how "playing" is known."""

    def __init__(self, send: Callable[[str, object], None]) -> None:
        self._send = send  # send(kind, payload): kind is "begin" (rate), "audio" (int16 array), "end", "stop"

    def begin(self, sample_rate: int, at_seconds: float) -> None:
        self._send("begin", sample_rate)

    def write(self, samples: np.ndarray) -> None:
        self._send("audio", to_int16(np.asarray(samples)))

    def end(self) -> None:
        self._send("end", None)

    def stop(self, at_seconds: float) -> None:
        self._send("stop", None)
