"""Spoken commands to intents, scored as Picovoice's speech-to-intent benchmark scores them.

    python -m bench.speech_to_intent --bundle BUNDLE [--context YAML] [--recordings DIR] [--labels JSON]
        [--noise WAV] [--snr 24 21 18 15 12 9 6] [--limit N] [--false-accept N]

Every clip goes through the real turn (`Turn.run_audio`, what `edge ask --wav` runs) with the
bundle made by `distill rhino CONTEXT --out BUNDLE` (made here when BUNDLE does not exist), once
per technique, interleaved clip by clip so a busy machine slows them alike:

    plain     today's path: free Whisper decode biased to the skills' words, the intent model's spans
    bias      + the bundle's domain words in the decoder's vocabulary bias
    snap      + slot spans snapped to the declared values (edge/nlu/snap.py)
    grammar   + the closed grammar's constrained decode, with the free decode when it rejects (the default)

A clip counts when the intent is right and every labelled slot has its value after `strip()`
(extra slots are not penalised); an out-of-scope or empty answer is an error. Noise: a seeded
stretch of `--noise` mixed at each SNR, measured on the maximum 2048-sample frame energy, then
normalised to peak 0.5. ASR latency is the turn's `asr` stage. False acceptance: other speech
(the wake-word recordings in ../shared/data/wakeword, real voices; and HWU64 test sentences spoken
by the bundled Piper voice) that ends as one of the bundle's intents, in scope.
Writes bench/results/speech_to_intent.json (or --out).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from bench.clips import CACHE, DATA, hwu64_piper_clips
from bench.provenance import RESULTS_DIR, write_result
from edge.audio.wavio import AudioInputError, RequestAudio, read_request_audio
from edge.core.settings import RouterSettings, SkillSettings, load_settings
from edge.runtime.turn import Turn

PACKAGES = ("edge-voice", "onnxruntime", "numpy", "tokenizers")
BENCH = DATA / "picovoice_speech_to_intent"
FRAME = 2048
PEAK = 0.5
VARIANTS = {
    "plain": {"asr.grammar_decode": False, "asr.domain_bias": False, "nlu.snap_slots": False},
    "bias": {"asr.grammar_decode": False, "nlu.snap_slots": False},
    "snap": {"asr.grammar_decode": False},
    "grammar": {},
}


def max_frame_energy(samples: np.ndarray) -> float:
    frames = len(samples) // FRAME
    if frames == 0:
        return float(np.sum(samples.astype(np.float64) ** 2))
    blocks = samples[: frames * FRAME].astype(np.float64).reshape(frames, FRAME)
    return float(np.max(np.sum(blocks**2, axis=1)))


def mix(speech: np.ndarray, noise: np.ndarray, snr_db: float | None, seed: int) -> np.ndarray:
    """Speech with a seeded stretch of noise at `snr_db` (None: clean), normalised to peak 0.5."""
    mixed = speech.astype(np.float64)
    if snr_db is not None:
        start = np.random.default_rng(seed).integers(0, max(1, len(noise) - len(speech)))
        stretch = np.resize(noise[start : start + len(speech)], len(speech)).astype(np.float64)
        scale = np.sqrt(max_frame_energy(speech) / (max_frame_energy(stretch) * 10 ** (snr_db / 10)))
        mixed = mixed + scale * stretch
    peak = float(np.max(np.abs(mixed))) or 1.0
    return (mixed * (PEAK / peak)).astype(np.float32)


def load_labels(path: Path) -> dict[str, tuple[str, dict[str, str]]]:
    data = json.loads(path.read_text())
    return {name: (item["intent"], {k: str(v).strip() for k, v in item.get("slots", {}).items()})
            for name, item in data.items()}


def correct(trace, intent: str, slots: dict[str, str]) -> bool:
    if trace.out_of_scope or trace.intent != intent:
        return False
    got = trace.slots or {}
    return all(got.get(name, "").strip() == value for name, value in slots.items())


def request(samples: np.ndarray) -> RequestAudio:
    return RequestAudio(samples, 16000, 16000, 1, False)


def load_turns(bundle: Path, variants: list[str], folder: str) -> dict[str, Turn]:
    turns = {}
    for name in variants:
        settings = load_settings(None, {}, {"nlu.bundle_dir": str(bundle), **VARIANTS[name]})
        settings = replace(settings, router=RouterSettings(enabled=False),
                           skills=SkillSettings(database_path=f"{folder}/{name}.sqlite3", entry_points=False))
        turns[name] = Turn.load(settings, with_tts=False)
    return turns


def score_condition(turns: dict[str, Turn], clips: list[tuple[str, np.ndarray]], labels, noise, snr) -> dict:
    rows = {name: {"correct": 0, "asr_ms": [], "failures": []} for name in turns}
    for index, (clip, speech) in enumerate(clips):
        audio = request(mix(speech, noise, snr, seed=index))
        intent, slots = labels[clip]
        for name, turn in turns.items():
            trace = turn.run_audio(audio, session=f"{clip}-{snr}").trace
            row = rows[name]
            row["asr_ms"].append(trace.stages_ms.get("asr", 0.0))
            if correct(trace, intent, slots):
                row["correct"] += 1
            elif len(row["failures"]) < 8:
                row["failures"].append({"clip": clip, "heard": trace.transcript, "intent": trace.intent,
                                        "slots": trace.slots, "expected": slots})
    summary = {}
    for name, row in rows.items():
        summary[name] = {
            "clips": len(clips), "correct": row["correct"], "acceptance": round(row["correct"] / len(clips), 4),
            "asr_ms_mean": round(statistics.mean(row["asr_ms"]), 1),
            "asr_ms_median": round(statistics.median(row["asr_ms"]), 1),
            "failures": row["failures"],
        }
        if "plain" in rows:
            summary[name]["asr_latency_vs_plain"] = round(sum(row["asr_ms"]) / max(sum(rows["plain"]["asr_ms"]), 1e-9), 3)
    return summary


def other_speech(count: int) -> list[tuple[str, str, np.ndarray]]:
    """(group, name, samples): real wake-word recordings, and HWU64 sentences spoken by Piper."""
    clips = []
    for path in sorted((DATA / "wakeword").rglob("*")):
        if path.suffix in (".wav", ".flac") and path.is_file():
            try:
                audio = read_request_audio(path, max_seconds=30.0)
            except AudioInputError:  # a few of the recordings do not decode; they are left out and counted
                continue
            clips.append(("wakeword-recordings", str(path.relative_to(DATA)), audio.samples))
    for clip in hwu64_piper_clips(count):
        clips.append(("hwu64-piper", clip.name, clip.samples))
    return clips


def false_acceptance(turns: dict[str, Turn], clips, intents: set[str]) -> dict:
    result = {}
    for name, turn in turns.items():
        groups: dict[str, list[int]] = {}
        accepted_examples = []
        for group, clip, samples in clips:
            trace = turn.run_audio(request(samples), session=f"fa-{clip}").trace
            accepted = trace.intent in intents and not trace.out_of_scope
            groups.setdefault(group, []).append(int(accepted))
            if accepted and len(accepted_examples) < 8:
                accepted_examples.append({"clip": clip, "heard": trace.transcript, "slots": trace.slots})
        result[name] = {
            group: {"clips": len(flags), "accepted": sum(flags), "rate": round(sum(flags) / len(flags), 4)}
            for group, flags in groups.items()
        }
        total = [f for flags in groups.values() for f in flags]
        result[name]["all"] = {"clips": len(total), "accepted": sum(total), "rate": round(sum(total) / len(total), 4)}
        result[name]["accepted_examples"] = accepted_examples
    return result


def ensure_bundle(bundle: Path, context: Path) -> None:
    if (bundle / "bundle.json").is_file():
        return
    print(f"making {bundle} with distill rhino (once)", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "distill", "rhino", str(context), "--out", str(bundle)], check=True)


def portable(argv: list[str]) -> str:
    """The command line with paths made relative to the working folder (no machine's paths)."""
    parts = []
    for part in argv:
        parts.append(os.path.relpath(part) if os.path.isabs(part) else part)
    return " ".join(["python -m bench.speech_to_intent", shlex.join(parts)]).rstrip()


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.speech_to_intent", description=__doc__.split("\n")[0])
    parser.add_argument("--context", type=Path, default=BENCH / "coffee_maker_context.yaml")
    parser.add_argument("--recordings", type=Path, default=BENCH / "dev")
    parser.add_argument("--labels", type=Path, default=BENCH / "dev_labels.json")
    parser.add_argument("--bundle", type=Path, help="the bundle `distill rhino CONTEXT` made (default: made once in the cache)")
    parser.add_argument("--noise", type=Path, default=BENCH / "noise" / "kitchen.wav")
    parser.add_argument("--snr", type=float, nargs="*", default=[24, 21, 18, 15, 12, 9, 6], help="dB; none: clean only")
    parser.add_argument("--noise-variants", default="plain,grammar", help="techniques run in noise and on other speech (all run clean)")
    parser.add_argument("--limit", type=int, default=0, help="first N clips (sorted by name); 0: all")
    parser.add_argument("--false-accept", type=int, default=200, help="HWU64 sentences spoken by Piper (+ the wake-word recordings); 0: skip")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "speech_to_intent.json")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    bundle = args.bundle or CACHE.parent / "bench-bundles" / args.context.stem
    ensure_bundle(bundle, args.context)
    labels = load_labels(args.labels)
    names = sorted(labels)[: args.limit or None]
    clips = [(name, read_request_audio(args.recordings / name).samples) for name in names]
    noise = read_request_audio(args.noise, max_seconds=600.0).samples
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        turns = load_turns(bundle, list(VARIANTS), folder)
        intents = set(turns["grammar"].nlu.domain.intents) if turns["grammar"].nlu.domain else {i for i, _ in labels.values()}
        conditions = {"clean": score_condition(turns, clips, labels, noise, None)}
        print(json.dumps({k: v["acceptance"] for k, v in conditions["clean"].items()}), file=sys.stderr)
        noisy = {name: turns[name] for name in args.noise_variants.split(",") if name in turns}
        for snr in args.snr:
            conditions[f"{snr:g}dB"] = score_condition(noisy, clips, labels, noise, snr)
            print(f"{snr:g} dB", json.dumps({k: v["acceptance"] for k, v in conditions[f"{snr:g}dB"].items()}), file=sys.stderr)
        fa = false_acceptance(noisy, other_speech(args.false_accept), intents) if args.false_accept else None
        for turn in turns.values():
            turn.close()
    means = {}
    for name in noisy:
        values = [conditions[f"{snr:g}dB"][name]["acceptance"] for snr in args.snr]
        if values:
            means[name] = round(statistics.mean(values), 4)
    result = {
        "command": portable(argv),
        "data": {"recordings": os.path.relpath(args.recordings), "clips": len(clips),
                 "noise": os.path.relpath(args.noise), "context": os.path.relpath(args.context)},
        "bundle": bundle.name,
        "techniques": {name: VARIANTS[name] for name in VARIANTS},
        "acceptance": {cond: {name: row["acceptance"] for name, row in rows.items()} for cond, rows in conditions.items()},
        "mean_over_snr": means,
        "asr_latency_vs_plain_clean": {name: row.get("asr_latency_vs_plain") for name, row in conditions["clean"].items()},
        "conditions": conditions,
        "false_acceptance": fa,
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    path = write_result("speech_to_intent", result, PACKAGES, args.out)
    print(json.dumps({"acceptance": result["acceptance"], "mean_over_snr": means,
                      "false_acceptance": {k: v["all"] for k, v in (fa or {}).items()}}, indent=1))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
