"""`edge devices bench`: per-stage latency and memory on this machine, per available provider.

Stages: VAD (Silero, 32 ms windows over the demo WAVs), ASR (faster-whisper, and the configured
engine when it differs, on the demo WAVs), NLU (the intent bundle at one thread over HWU64 test
sentences, once per onnxruntime provider installed here), TTS (Piper on one reply). Memory is
the process's peak resident set after each
stage (it only grows, so a stage's own cost is the step from the previous one).
"""

from __future__ import annotations

import logging
import os
import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edge.core.settings import NluSettings, Settings

logger = logging.getLogger(__name__)

HWU64_TEST = Path("hwu64") / "split_dialoglue" / "test.tsv"  # inside the shared data folder
TTS_TEXT = "Your alarm is set for seven thirty tomorrow morning."


def hwu64_test_file(data_dir: Path | None = None) -> Path:
    """`data_dir`, else `$EDGE_DATA_DIR`, else `../shared/data` beside the repository."""
    if data_dir is None:
        env = os.environ.get("EDGE_DATA_DIR")
        data_dir = Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"
    return data_dir / HWU64_TEST


def peak_rss_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux reports KiB


def summarize(milliseconds: list[float]) -> dict[str, float]:
    ordered = sorted(milliseconds)
    return {
        "count": len(ordered),
        "mean_ms": round(statistics.fmean(ordered), 3),
        "p50_ms": round(ordered[len(ordered) // 2], 3),
        "p90_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))], 3),
        "max_ms": round(ordered[-1], 3),
    }


def timed(function: Callable[..., Any], *args: Any) -> tuple[float, Any]:
    """(milliseconds, value) of function(*args)."""
    start = time.perf_counter()
    value = function(*args)
    return (time.perf_counter() - start) * 1000, value


def read_sentences(path: Path, limit: int) -> list[tuple[str, str]]:
    """(text, intent) pairs from a DialoGLUE-style TSV (header `text<TAB>label`), evenly spread."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines()[1:]:
        text, _, label = line.partition("\t")
        if text and label:
            rows.append((text, label))
    if limit and len(rows) > limit:
        step = len(rows) / limit
        rows = [rows[int(index * step)] for index in range(limit)]
    return rows


def bench_nlu(settings: NluSettings, providers: tuple, sentences: list[tuple[str, str]]) -> dict[str, Any]:
    from edge.nlu.runtime import IntentModel

    load_ms, model = timed(IntentModel.load, settings, providers)
    model.predict(sentences[0][0])  # first run allocates
    times, correct = [], 0
    for text, label in sentences:
        elapsed, result = timed(model.predict, text)
        times.append(elapsed)
        correct += result.intent == label
    return {
        "load_ms": round(load_ms, 1),
        "threads": settings.intra_op_threads,
        "session_providers": model.session_providers,
        "accuracy": round(correct / len(sentences), 4),
        **summarize(times),
        "peak_rss_mib": peak_rss_mib(),
    }


def bench_vad(settings: Settings, wavs: list[Path]) -> dict[str, Any]:
    from edge.audio.wavio import read_request_audio
    from edge.listen.vad import SileroVad

    load_ms, vad = timed(SileroVad, settings.vad)
    times = []
    for wav in wavs:
        samples = read_request_audio(wav).samples
        pcm = np.clip(samples * 32768, -32768, 32767).astype(np.int16)
        stream = vad.stream()
        for start in range(0, len(pcm) - 512, 512):
            elapsed, _ = timed(stream.feed, pcm[start : start + 512])
            times.append(elapsed)
    return {"load_ms": round(load_ms, 1), "unit": "one 32 ms window", **summarize(times),
            "peak_rss_mib": peak_rss_mib()}


def bench_asr(settings: Settings, wavs: list[Path], engine: str) -> dict[str, Any]:
    """`engine` as asr.engine names it; onnx-whisper falls back to faster-whisper when not built."""
    from dataclasses import replace

    from edge.asr import create_asr
    from edge.audio.wavio import read_request_audio

    asr_settings = replace(settings.asr, engine=engine)
    load_ms, asr = timed(create_asr, asr_settings)
    times, audio_seconds = [], 0.0
    for wav in wavs:
        samples = read_request_audio(wav).samples
        audio_seconds += len(samples) / 16000
        elapsed, _ = timed(asr.transcribe, samples)
        times.append(elapsed)
    return {"engine": engine, "implementation": type(asr).__name__, "compute_type": asr_settings.compute_type,
            "threads": asr_settings.cpu_threads, "load_ms": round(load_ms, 1), "unit": "one demo request",
            "real_time_factor": round(sum(times) / 1000 / audio_seconds, 3), **summarize(times),
            "peak_rss_mib": peak_rss_mib()}


def bench_tts(settings: Settings, repeats: int = 3) -> dict[str, Any]:
    from edge.tts.piper import PiperTts

    load_ms, tts = timed(PiperTts, settings.tts)
    times, audio_seconds = [], 0.0
    for _ in range(repeats):
        elapsed, speech = timed(tts.synthesize_all, TTS_TEXT)
        times.append(elapsed)
        audio_seconds += len(speech.samples) / speech.sample_rate
    return {"load_ms": round(load_ms, 1), "unit": "one reply sentence", "text": TTS_TEXT,
            "real_time_factor": round(sum(times) / 1000 / audio_seconds, 3), **summarize(times),
            "peak_rss_mib": peak_rss_mib()}


def run_stage(name: str, function: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """A stage that cannot run here is reported with why, not left out silently."""
    try:
        return function()
    except Exception as error:  # an optional engine that is missing or fails must not stop the others
        logger.warning("devices bench: stage %s skipped: %s", name, error)
        return {"skipped": f"{type(error).__name__}: {error}"}
