"""Per-stage latency of whole turns over the demo conversation, and `edge ask`'s footprint.

    python -m bench.turn_latency [--repeats 5]

Writes bench/results/turn_latency.json: p50/p95 of each stage (ASR, NLU, skill, TTS, end of
speech to first reply audio) over every demo turn × repeats, all in one process with models
loaded once; then the peak resident memory and wall time of one `edge ask --wav` process.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.provenance import write_result
from edge.core.settings import load_settings
from edge.runtime.demo import demo_turns
from edge.runtime.turn import Turn

PACKAGES = ("edge-voice", "onnxruntime", "ctranslate2", "faster-whisper", "piper-tts", "numpy", "tokenizers", "soxr")


def percentiles(values: list[float]) -> dict[str, float]:
    return {
        "p50": round(float(np.percentile(values, 50)), 2),
        "p95": round(float(np.percentile(values, 95)), 2),
        "mean": round(float(np.mean(values)), 2),
        "n": len(values),
    }


def measure_turns(repeats: int, database: Path) -> dict:
    settings = load_settings(environ={}, overrides={"skills.database_path": str(database)})
    started = time.perf_counter()
    pipeline = Turn.load(settings)
    load_seconds = time.perf_counter() - started
    stages: dict[str, list[float]] = {}
    pipeline.run_wav(demo_turns()[0].wav)  # warm-up: first inference allocates arenas
    for _ in range(repeats):
        for turn in demo_turns():
            trace = pipeline.run_wav(turn.wav).trace.to_dict()
            for stage, milliseconds in trace["stages_ms"].items():
                stages.setdefault(stage, []).append(milliseconds)
    pipeline.close()
    return {"models_load_seconds": round(load_seconds, 2), "stages_ms": {k: percentiles(v) for k, v in stages.items()}}


def measure_edge_ask(database: Path) -> dict:
    """One cold `edge ask --wav` process: wall time and peak RSS (children's ru_maxrss)."""
    wav = demo_turns()[0].wav
    command = [sys.executable, "-m", "edge", "ask", "--wav", str(wav), "--json", "--set", f"skills.database_path={database}"]
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    wall = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"command": " ".join(command[1:]), "wall_seconds": round(wall, 2), "peak_rss_mib": round(peak_kib / 1024, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="passes over the demo conversation (default 5)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        database = Path(scratch) / "bench.sqlite3"
        edge_ask = measure_edge_ask(database)
        turns = measure_turns(args.repeats, database)
    path = write_result(
        "turn_latency",
        {"repeats": args.repeats, "turns_per_repeat": len(demo_turns()), **turns, "edge_ask_process": edge_ask},
        PACKAGES,
    )
    print(path.read_text())


if __name__ == "__main__":
    main()
