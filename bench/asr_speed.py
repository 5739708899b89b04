"""ASR latency and word error rate: the ONNX path (onnx-whisper) against faster-whisper, same clips.

    python -m bench.asr_speed [--repeats 3] [--hwu64 30]

Clips: the demo turns, HWU64 test sentences spoken by the bundled Piper voice, and the real
English recordings in ../shared/data/asr_testclips/en. Each clip is transcribed by both engines
in turn, `--repeats` times (interleaved, so a busy machine slows both alike); a clip's latency is
its median (the fastest repeat is kept too: `*_min_latency_ratio`). The ONNX path runs as the live loop runs it (biased toward the installed skills'
vocabulary), without the bias, and with shallow fusion over the vocabulary's token trie (`asr.phrase_bonus`,
edge/asr/onnx/bias.py). WER uses Whisper's English normaliser (whisper-normalizer) and jiwer. Writes
bench/results/asr_speed.json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

from bench.clips import Clip, demo_clips, human_clips, hwu64_piper_clips
from bench.provenance import write_result
from edge.asr import WhisperAsr
from edge.asr.onnx.engine import OnnxWhisperAsr
from edge.core.settings import AsrSettings

PACKAGES = ("edge-voice", "onnxruntime", "ctranslate2", "faster-whisper", "numpy", "jiwer", "whisper-normalizer")


def word_error_rate(references: list[str], hypotheses: list[str]) -> float:
    import jiwer
    from whisper_normalizer.english import EnglishTextNormalizer

    normalise = EnglishTextNormalizer()
    pairs = [(normalise(r), normalise(h)) for r, h in zip(references, hypotheses, strict=True)]
    pairs = [(r, h if h.strip() else "<empty>") for r, h in pairs if r.strip()]
    return round(jiwer.wer([r for r, _ in pairs], [h for _, h in pairs]), 4)


def timed(engine, clip: Clip) -> tuple[float, str]:
    started = time.perf_counter()
    text = engine.transcribe(clip.samples).text
    return time.perf_counter() - started, text


def run(clips: list[Clip], engines: dict, repeats: int) -> dict:
    for engine in engines.values():  # warm-up: first runs allocate arenas
        engine.transcribe(clips[0].samples)
    rows = []
    for clip in clips:
        seconds: dict[str, list[float]] = {name: [] for name in engines}
        texts: dict[str, str] = {}
        for _ in range(repeats):
            for name, engine in engines.items():
                elapsed, texts[name] = timed(engine, clip)
                seconds[name].append(elapsed)
        rows.append({
            "clip": clip.name, "group": clip.group, "audio_seconds": round(len(clip.samples) / 16000, 2),
            "reference": clip.reference,
            **{f"{name}_ms": round(statistics.median(values) * 1000, 1) for name, values in seconds.items()},
            **{f"{name}_min_ms": round(min(values) * 1000, 1) for name, values in seconds.items()},
            **{f"{name}_text": texts[name] for name in engines},
        })
    return summarise(rows, list(engines))


def summarise(rows: list[dict], names: list[str]) -> dict:
    groups = {}
    for group in ("demo", "hwu64-piper", "human", "short-commands"):
        chosen = [r for r in rows if r["group"] == group or (group == "short-commands" and r["group"] != "human")]
        if not chosen:
            continue
        summary = {"clips": len(chosen)}
        for name in names:
            summary[f"{name}_median_ms"] = round(statistics.median(r[f"{name}_ms"] for r in chosen), 1)
            summary[f"{name}_total_ms"] = round(sum(r[f"{name}_ms"] for r in chosen), 1)
            summary[f"{name}_wer"] = word_error_rate([r["reference"] for r in chosen], [r[f"{name}_text"] for r in chosen])
        baseline = names[0]
        for name in names[1:]:
            summary[f"{name}_latency_ratio"] = round(summary[f"{name}_total_ms"] / summary[f"{baseline}_total_ms"], 3)
            summary[f"{name}_median_ratio"] = round(
                statistics.median(r[f"{name}_ms"] / r[f"{baseline}_ms"] for r in chosen), 3)
            # Fastest of the repeats: what each engine costs when the shared machine leaves it alone.
            summary[f"{name}_min_latency_ratio"] = round(
                sum(r[f"{name}_min_ms"] for r in chosen) / sum(r[f"{baseline}_min_ms"] for r in chosen), 3)
        groups[group] = summary
    return {"groups": groups, "clips": rows}


def installed_vocabulary() -> list[str]:
    """What the live loop biases toward: the shipped intent bundle's labels and the loaded skills."""
    import tempfile

    from edge.asr.onnx.vocabulary import label_words, skill_words
    from edge.core.settings import load_settings
    from edge.nlu.runtime import default_bundle_dir
    from edge.skills.loader import load_skills

    with tempfile.TemporaryDirectory() as scratch:
        settings = load_settings(environ={}, overrides={"skills.database_path": f"{scratch}/edge.sqlite3"})
        loaded = load_skills(settings)
        words = skill_words(loaded.registry.skills)
        loaded.registry.close()
    return sorted(words | label_words(default_bundle_dir() / "labels.json"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--hwu64", type=int, default=30, help="how many HWU64 test sentences to speak")
    parser.add_argument("--out", type=Path, help="result file (default bench/results/asr_speed.json)")
    parser.add_argument("--phrase-bonus", type=float, default=1.5,
                        help="onnx_phrases: asr.phrase_bonus, shallow fusion over the installed vocabulary's token trie")
    args = parser.parse_args()
    clips = demo_clips() + hwu64_piper_clips(args.hwu64) + human_clips()
    onnx_settings = AsrSettings(engine="onnx-whisper")
    engines = {
        "faster_whisper": WhisperAsr(AsrSettings(engine="faster-whisper")),
        "onnx": OnnxWhisperAsr(onnx_settings, installed_vocabulary()),  # as the live loop runs it
        "onnx_no_bias": OnnxWhisperAsr(replace(onnx_settings, bias_logit=0.0)),
        "onnx_phrases": OnnxWhisperAsr(replace(onnx_settings, phrase_bonus=args.phrase_bonus), installed_vocabulary()),
    }
    result = run(clips, engines, args.repeats)
    result["command"] = " ".join(["python -m bench.asr_speed", *sys.argv[1:]])  # no machine's paths
    result["settings"] = {"repeats": args.repeats, "asr": onnx_settings.__dict__, "load_average": list(os.getloadavg())}
    path = write_result("asr_speed", result, PACKAGES, args.out)
    for group, summary in result["groups"].items():
        print(group, summary)
    print(f"written {path}")


if __name__ == "__main__":
    main()
