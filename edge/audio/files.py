"""WAV (or FLAC, OGG) files as the live loop's microphone and speaker.

`FileSource` reads a recording (any rate, any channels; resampled and mixed down at this edge)
and yields it as frames, as if a microphone heard it. `FileSink` writes each reply to its own
WAV and keeps the replies' place on the input's timeline, so playing and barge-in behave as on
a real speaker: a reply of 2 s started at 10.0 s plays until 12.0 s of input, unless stopped.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge.audio.stream import SAMPLE_RATE, AudioSink, FrameSource, split_frames, to_int16
from edge.audio.wavio import AudioInputError, read_request_audio, write_wav

logger = logging.getLogger(__name__)


class FileSource(FrameSource):
    def __init__(self, path: Path, frame_samples: int = 1280, max_seconds: float = 3600.0) -> None:
        audio = read_request_audio(path, SAMPLE_RATE, max_seconds=max_seconds)
        if audio.source_rate != SAMPLE_RATE or audio.source_channels != 1:
            logger.info("%s: %d Hz, %d channel(s) -> 16000 Hz mono", path, audio.source_rate, audio.source_channels)
        peak = float(np.max(np.abs(audio.samples), initial=0.0))
        if peak >= 0.999:
            logger.warning("%s is clipped (peak at full scale); recognition may suffer", path)
        if peak < 10 ** (-60 / 20):
            logger.warning("%s is silent (quieter than -60 dBFS)", path)
        self.path = path
        self.samples = to_int16(audio.samples)
        self.frame_samples = frame_samples

    def frames(self) -> Iterator[np.ndarray]:
        yield from split_frames(self.samples, self.frame_samples)

    @property
    def seconds(self) -> float:
        return len(self.samples) / SAMPLE_RATE


@dataclass
class PlayedReply:
    path: Path | None
    started_at: float  # input stream seconds
    sample_rate: int
    samples: list[np.ndarray] = field(default_factory=list)
    stopped_at: float | None = None  # input stream seconds of a barge-in

    @property
    def seconds(self) -> float:
        return sum(len(piece) for piece in self.samples) / self.sample_rate

    @property
    def ends_at(self) -> float:
        natural = self.started_at + self.seconds
        return natural if self.stopped_at is None else min(natural, self.stopped_at)


class FileSink(AudioSink):
    """Writes reply-NN.wav files into `folder` (None: keep them in memory only)."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self.replies: list[PlayedReply] = []

    def begin(self, sample_rate: int, at_seconds: float) -> None:
        path = None if self.folder is None else self.folder / f"reply-{len(self.replies) + 1:02d}.wav"
        self.replies.append(PlayedReply(path, at_seconds, sample_rate))

    def write(self, samples: np.ndarray) -> None:
        if self.replies:
            self.replies[-1].samples.append(to_int16(np.asarray(samples)))

    def end(self) -> None:
        if self.replies:
            self._save(self.replies[-1])

    def playing(self, at_seconds: float) -> bool:
        return bool(self.replies) and at_seconds < self.replies[-1].ends_at

    def stop(self, at_seconds: float) -> None:
        if self.replies and self.playing(at_seconds):
            reply = self.replies[-1]
            reply.stopped_at = at_seconds
            self._save(reply)

    def _save(self, reply: PlayedReply) -> None:
        if reply.path is None:
            return
        audio = np.concatenate(reply.samples) if reply.samples else np.zeros(0, np.int16)
        played = int(round((reply.ends_at - reply.started_at) * reply.sample_rate))
        write_wav(reply.path, audio[:played], reply.sample_rate)


__all__ = ["AudioInputError", "FileSink", "FileSource", "PlayedReply"]
