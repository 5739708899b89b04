"""Read request audio from files and write reply audio to WAV.

Input may be any file libsndfile reads (WAV, FLAC, OGG…), at any rate, mono or not: it is
mixed down to mono and resampled to the pipeline rate. Over-long input is cut (only the
head is read, so a 20-minute file costs no more memory than the cap), and files that are not
audio or hold no samples raise `AudioInputError` with a one-line reason.
"""

from __future__ import annotations

import io
import logging
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.core.errors import BadInputError

logger = logging.getLogger(__name__)


class AudioInputError(BadInputError):
    """Input audio cannot be used: not audio, empty, or unreadable. The message says which."""


@dataclass(frozen=True)
class RequestAudio:
    samples: np.ndarray  # float32 mono in [-1, 1] at `sample_rate`
    sample_rate: int  # hertz
    source_rate: int  # hertz, as found in the file
    source_channels: int
    truncated: bool  # True when the file was longer than the cap

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.sample_rate


def read_request_audio(
    path: Path, sample_rate: int = 16000, max_seconds: float = 30.0, min_seconds: float = 0.1
) -> RequestAudio:
    """Load `path` as mono float32 at `sample_rate`, at most `max_seconds` long."""
    import soundfile

    if not path.is_file():
        raise AudioInputError(f"{path}: no such file")
    try:
        info = soundfile.info(str(path))
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as error:
        raise AudioInputError(f"{path} is not a readable audio file (WAV, FLAC or OGG expected)") from error
    if info.frames <= 0 or info.samplerate <= 0:
        raise AudioInputError(f"{path} holds no audio samples")
    max_frames = int(max_seconds * info.samplerate)
    truncated = info.frames > max_frames
    try:
        data, rate = soundfile.read(str(path), frames=min(info.frames, max_frames), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError) as error:
        raise AudioInputError(f"{path}: audio data is corrupt ({error})") from error
    if truncated:
        logger.warning("%s is %.0f s long; only the first %.0f s are used", path, info.duration, max_seconds)
    samples = resample(data.mean(axis=1), rate, sample_rate)
    if len(samples) < min_seconds * sample_rate:
        raise AudioInputError(f"{path} is too short ({len(samples) / sample_rate:.2f} s) to hold a request")
    if not np.all(np.isfinite(samples)):
        raise AudioInputError(f"{path} contains invalid (NaN or infinite) samples")
    return RequestAudio(np.clip(samples, -1.0, 1.0), sample_rate, rate, info.channels, truncated)


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """High-quality resampling (libsoxr); a no-op when the rates match."""
    samples = np.ascontiguousarray(samples, dtype=np.float32)
    if from_rate == to_rate:
        return samples
    import soxr

    return soxr.resample(samples, from_rate, to_rate).astype(np.float32, copy=False)


def float_to_int16(samples: np.ndarray) -> np.ndarray:
    return (np.clip(samples, -1.0, 1.0) * 32767.0).astype(np.int16)


def wav_bytes(samples_int16: np.ndarray, sample_rate: int) -> bytes:
    """A complete 16-bit mono PCM WAV file in memory."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(sample_rate)
        writer.writeframes(np.asarray(samples_int16, dtype="<i2").tobytes())
    return buffer.getvalue()


def write_wav(path: Path, samples_int16: np.ndarray, sample_rate: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(wav_bytes(samples_int16, sample_rate))
