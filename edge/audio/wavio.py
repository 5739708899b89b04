"""Read request audio from files and write reply audio to WAV.

Input may be any file libsndfile reads (WAV, FLAC, OGG…), up to 192 kHz and 8 channels: it is
read in blocks, each mixed down to mono and resampled to the pipeline rate as it comes, so
memory follows the output (30 s at 16 kHz: 1.9 MB), not the file's format (FLAC of silence
compresses about 1000:1; 30 s of 192 kHz, 8 channels would be 184 MB of float32). Over-long
input is cut (only the head is read), and files that are not audio, hold no samples or go
beyond the caps raise `AudioInputError` with a one-line reason.
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

MAX_INPUT_RATE = 192000  # hertz: more is not a microphone recording
MAX_INPUT_CHANNELS = 8
BLOCK_FRAMES = 16384  # frames decoded at a time


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
    if info.samplerate > MAX_INPUT_RATE or info.channels > MAX_INPUT_CHANNELS:
        raise AudioInputError(f"{path} is {info.samplerate} Hz with {info.channels} channels; requests may be at most "
                              f"{MAX_INPUT_RATE} Hz and {MAX_INPUT_CHANNELS} channels")
    max_frames = int(max_seconds * info.samplerate)
    truncated = info.frames > max_frames
    try:
        samples = _read_mono(path, min(info.frames, max_frames), info.samplerate, sample_rate)
    except (soundfile.LibsndfileError, RuntimeError) as error:
        raise AudioInputError(f"{path}: audio data is corrupt ({error})") from error
    if truncated:
        logger.warning("%s is %.0f s long; only the first %.0f s are used", path, info.duration, max_seconds)
    rate = info.samplerate
    if len(samples) < min_seconds * sample_rate:
        raise AudioInputError(f"{path} is too short ({len(samples) / sample_rate:.2f} s) to hold a request")
    if not np.all(np.isfinite(samples)):
        raise AudioInputError(f"{path} contains invalid (NaN or infinite) samples")
    return RequestAudio(np.clip(samples, -1.0, 1.0), sample_rate, rate, info.channels, truncated)


def _read_mono(path: Path, frames: int, rate: int, sample_rate: int) -> np.ndarray:
    """The first `frames` frames as float32 mono at `sample_rate`, decoded block by block."""
    import soundfile

    resampler = None
    if rate != sample_rate:
        import soxr

        resampler = soxr.ResampleStream(rate, sample_rate, 1, dtype="float32")
    pieces = []
    with soundfile.SoundFile(str(path)) as source:
        for block in source.blocks(blocksize=BLOCK_FRAMES, frames=frames, dtype="float32", always_2d=True):
            with np.errstate(all="ignore"):  # inf/NaN samples are refused below, once
                mono = np.ascontiguousarray(block.mean(axis=1), dtype=np.float32)
            pieces.append(resampler.resample_chunk(mono) if resampler is not None else mono)
    if resampler is not None:
        pieces.append(resampler.resample_chunk(np.zeros(0, np.float32), last=True))
    return np.concatenate(pieces).astype(np.float32, copy=False) if pieces else np.zeros(0, np.float32)


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
