"""PCM as it travels in audio-chunk events: conversion, level, chunking and end-of-speech detection."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from edge.audio.wavio import resample
from edge.core.errors import BadInputError

SILENT_DBFS = -120.0  # the level reported for digital silence


class PcmFormatError(BadInputError, ValueError):
    """PCM bytes do not fit their declared format."""


@dataclass(frozen=True)
class PcmFormat:
    rate: int = 16000  # hertz
    width: int = 2  # bytes per sample
    channels: int = 1

    @property
    def bytes_per_second(self) -> int:
        return self.rate * self.width * self.channels


def to_float_mono(audio: bytes, fmt: PcmFormat) -> np.ndarray:
    """Little-endian PCM (8-bit unsigned, 16/24/32-bit signed) as float32 mono in [-1, 1]."""
    frame_bytes = fmt.width * fmt.channels
    usable = len(audio) - len(audio) % frame_bytes
    raw = np.frombuffer(audio, dtype=np.uint8, count=usable)
    if fmt.width == 1:
        samples = (raw.astype(np.float32) - 128.0) / 128.0
    elif fmt.width == 2:
        samples = raw.view("<i2").astype(np.float32) / 32768.0
    elif fmt.width == 4:
        samples = raw.view("<i4").astype(np.float32) / 2147483648.0
    elif fmt.width == 3:
        triples = raw.reshape(-1, 3).astype(np.int32)
        values = triples[:, 0] | (triples[:, 1] << 8) | (triples[:, 2] << 16)
        samples = (np.where(values >= 1 << 23, values - (1 << 24), values)).astype(np.float32) / 8388608.0
    else:
        raise PcmFormatError(f"sample width {fmt.width} bytes is not PCM this bridge reads (1, 2, 3 or 4)")
    if fmt.channels > 1:
        samples = samples.reshape(-1, fmt.channels).mean(axis=1)
    return samples.astype(np.float32, copy=False)


def to_request_samples(audio: bytes, fmt: PcmFormat, sample_rate: int = 16000) -> np.ndarray:
    """PCM in any supported format as float32 mono at `sample_rate` (what ASR expects)."""
    return np.clip(resample(to_float_mono(audio, fmt), fmt.rate, sample_rate), -1.0, 1.0)


def level_dbfs(samples: np.ndarray) -> float:
    """RMS level of float samples in dB relative to full scale (-120 for silence)."""
    if len(samples) == 0:
        return SILENT_DBFS
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    return max(SILENT_DBFS, 20 * math.log10(rms)) if rms > 0 else SILENT_DBFS


def int16_chunks(samples: np.ndarray, samples_per_chunk: int) -> Iterator[bytes]:
    """int16 mono samples as little-endian byte chunks of `samples_per_chunk` samples."""
    data = np.asarray(samples, dtype="<i2").tobytes()
    step = samples_per_chunk * 2
    for start in range(0, len(data), step):
        yield data[start : start + step]


class Endpointer:
    """Ends a request streamed without audio-stop: speech, then `silence_seconds` of quiet.

    Audio is judged in 30 ms frames by RMS level against `threshold_dbfs`. Before any speech,
    silence never ends the request (the satellite's own timeout or `max_seconds` does).
    """

    FRAME_SECONDS = 0.03

    def __init__(self, fmt: PcmFormat, silence_seconds: float, threshold_dbfs: float, max_seconds: float) -> None:
        self._fmt = fmt
        self._frame_bytes = max(1, int(fmt.rate * self.FRAME_SECONDS)) * fmt.width * fmt.channels
        self._silence_frames_needed = max(1, round(silence_seconds / self.FRAME_SECONDS))
        self._max_bytes = int(max_seconds * fmt.bytes_per_second)
        self._threshold = threshold_dbfs
        self._pending = b""
        self._seen_bytes = 0
        self._quiet_frames = 0
        self.heard_speech = False

    def feed(self, audio: bytes) -> bool:
        """Add audio; True once the request is over."""
        self._seen_bytes += len(audio)
        data = self._pending + audio
        whole = len(data) - len(data) % self._frame_bytes
        for start in range(0, whole, self._frame_bytes):
            loud = level_dbfs(to_float_mono(data[start : start + self._frame_bytes], self._fmt)) > self._threshold
            if loud:
                self.heard_speech = True
                self._quiet_frames = 0
            elif self.heard_speech:
                self._quiet_frames += 1
        self._pending = data[whole:]
        return self._seen_bytes >= self._max_bytes or (
            self.heard_speech and self._quiet_frames >= self._silence_frames_needed
        )
