"""Recorded conversations for the live loop: real "alexa" recordings, spoken requests and kitchen
noise between them, mixed into one 16 kHz recording (used by tests and bench/live_latency.py)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.audio.wavio import read_request_audio

DATA = Path(os.environ.get("EDGE_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))
ALEXA_DIR = DATA / "wakeword" / "picovoice_wwb" / "alexa"
NOISE = DATA / "picovoice_speech_to_intent" / "noise" / "kitchen.wav"
RATE = 16000


@dataclass(frozen=True)
class Segment:
    wake: Path | None  # a wake word recording, or None for a request without one
    request: np.ndarray | Path  # float32 16 kHz, or a file
    gap_after_wake_seconds: float = 0.6
    pause_after_seconds: float = 6.0  # noise after the request (the reply plays over it)


def load(path_or_samples: np.ndarray | Path) -> np.ndarray:
    if isinstance(path_or_samples, Path):
        return read_request_audio(path_or_samples, RATE).samples
    return np.asarray(path_or_samples, dtype=np.float32)


def alexa_clips(count: int, start: int = 0) -> list[Path]:
    return sorted(ALEXA_DIR.glob("*.flac"))[start : start + count]


def build(segments: Sequence[Segment], noise_dbfs: float = -45.0, lead_seconds: float = 1.5) -> tuple[np.ndarray, list[float]]:
    """The mixed recording (float32) and where each request's speech ends, in seconds."""
    pieces = [np.zeros(int(lead_seconds * RATE), np.float32)]
    ends = []
    for segment in segments:
        if segment.wake is not None:
            pieces.append(load(segment.wake))
            pieces.append(np.zeros(int(segment.gap_after_wake_seconds * RATE), np.float32))
        pieces.append(load(segment.request))
        ends.append(sum(len(p) for p in pieces) / RATE)
        pieces.append(np.zeros(int(segment.pause_after_seconds * RATE), np.float32))
    speech = np.concatenate(pieces)
    mixed = speech + noise(len(speech), noise_dbfs)
    return (mixed * min(1.0, 0.9 / float(np.max(np.abs(mixed))))).astype(np.float32), ends


def noise(samples: int, dbfs: float) -> np.ndarray:
    """Kitchen noise (looped) scaled to `dbfs` RMS."""
    kitchen = read_request_audio(NOISE, RATE, max_seconds=200.0).samples
    looped = np.resize(kitchen, samples)
    rms = float(np.sqrt(np.mean(looped**2))) or 1.0
    return (looped / rms * 10 ** (dbfs / 20)).astype(np.float32)
