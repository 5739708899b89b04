"""What the live loop reads and writes: 16 kHz mono int16 frames in, reply audio out.

A `FrameSource` yields frames (numpy int16, `frame_samples` long, the last may be shorter) and
ends when its input does; an `AudioSink` plays one reply at a time and can be stopped mid-reply
(barge-in). Sources resample at their edge, so everything after them is 16 kHz mono.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator

import numpy as np

from edge.core.errors import EdgeError

SAMPLE_RATE = 16000  # hertz, what every stage after a source expects


class AudioDeviceError(EdgeError):
    """A sound device is missing, busy or was unplugged; the message says what to check."""


class FrameSource(abc.ABC):
    sample_rate: int = SAMPLE_RATE

    @abc.abstractmethod
    def frames(self) -> Iterator[np.ndarray]:
        """int16 mono frames at 16 kHz until the input ends (a microphone never ends)."""

    def close(self) -> None:  # noqa: B027 (optional hook)
        """Release the device or file."""


class AudioSink(abc.ABC):
    """Plays replies. `write` never blocks for long: audio is queued and played in the background."""

    @abc.abstractmethod
    def begin(self, sample_rate: int, at_seconds: float) -> None:
        """A reply starts; `at_seconds` is the input stream's time (seconds of frames read)."""

    @abc.abstractmethod
    def write(self, samples: np.ndarray) -> None:
        """Queue int16 mono samples of the current reply."""

    @abc.abstractmethod
    def end(self) -> None:
        """The current reply has no more audio."""

    @abc.abstractmethod
    def playing(self, at_seconds: float) -> bool:
        """True while reply audio is still being played at input stream time `at_seconds`."""

    @abc.abstractmethod
    def stop(self, at_seconds: float) -> None:
        """Barge-in: drop the rest of the current reply now."""

    def close(self) -> None:  # noqa: B027 (optional hook)
        """Release the device or files."""


def to_int16(samples: np.ndarray) -> np.ndarray:
    """float in [-1, 1] (clipped) or int16 in, int16 out."""
    if samples.dtype == np.int16:
        return samples
    return (np.clip(samples, -1.0, 1.0) * 32767.0).astype(np.int16)


def split_frames(samples: np.ndarray, frame_samples: int) -> Iterator[np.ndarray]:
    for start in range(0, len(samples), frame_samples):
        yield samples[start : start + frame_samples]
