"""Spoken test clips for the ASR and live-loop benchmarks: the demo turns, HWU64 test sentences
spoken by the bundled Piper voice (made once, cached), and the real human recordings."""

from __future__ import annotations

import csv
import os
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.audio.wavio import read_request_audio, write_wav
from edge.runtime.demo import demo_turns

DATA = Path(os.environ.get("EDGE_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edge" / "bench-clips"


@dataclass(frozen=True)
class Clip:
    name: str
    group: str  # demo | hwu64-piper | human
    reference: str
    samples: np.ndarray  # float32 mono 16 kHz


def demo_clips() -> list[Clip]:
    return [Clip(turn.wav.stem, "demo", turn.text, read_request_audio(turn.wav).samples) for turn in demo_turns()]


def hwu64_sentences(count: int, seed: int = 7) -> list[tuple[str, str]]:
    """(text, intent) pairs drawn from the HWU64 test split with a fixed seed."""
    with (DATA / "hwu64" / "split_dialoglue" / "test.tsv").open() as handle:
        rows = [(row["text"], row["label"]) for row in csv.DictReader(handle, delimiter="\t")]
    return random.Random(seed).sample(rows, count)


def hwu64_piper_clips(count: int = 30) -> list[Clip]:
    """HWU64 sentences spoken by the bundled voice, synthesised once into the cache folder."""
    sentences = hwu64_sentences(count)
    folder = CACHE / "hwu64-piper"
    missing = [i for i in range(count) if not (folder / f"{i:03d}.wav").is_file()]
    if missing:
        from edge.core.settings import TtsSettings
        from edge.tts.piper import PiperTts

        tts = PiperTts(TtsSettings())
        for index in missing:
            audio = tts.synthesize_all(sentences[index][0])
            write_wav(folder / f"{index:03d}.wav", audio.samples, audio.sample_rate)
    return [
        Clip(f"hwu64-{i:03d}", "hwu64-piper", text, read_request_audio(folder / f"{i:03d}.wav").samples)
        for i, (text, _intent) in enumerate(sentences)
    ]


def human_clips() -> list[Clip]:
    """English recordings in asr_testclips with their reference transcripts."""
    root = DATA / "asr_testclips"
    with (root / "transcripts.tsv").open() as handle:
        rows = [row for row in csv.DictReader(handle, delimiter="\t") if row["language"] == "en"]
    return [Clip(Path(row["path"]).stem, "human", row["reference"], read_request_audio(root / row["path"]).samples) for row in rows]
