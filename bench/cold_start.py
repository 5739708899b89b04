"""Cold start of `edge run` to READY (listening) and its peak memory with every model loaded.

    python -m bench.cold_start [--repeats 5]

Each repeat starts a new `edge run --input REQUEST.wav` process (the live loop: wake word, VAD,
Whisper ONNX, intent model, Piper, skills) with a real systemd notify socket, and measures the time
from the process start to its READY=1 datagram (what systemd waits for: every model loaded, the
loop about to listen), then lets it answer one wake-word request and exit, and reads its peak RSS
(the kernel's ru_maxrss of exactly that child, from os.wait4; Linux starts a child's figure at its
parent's size at fork, here the small bench process). The Whisper graphs are built beforehand; one
extra run with an empty cache measures the very first start, which builds them. Writes
bench/results/cold_start.json.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.conversation import Segment, alexa_clips, build
from bench.provenance import write_result
from edge.audio.wavio import write_wav
from edge.runtime.demo import demo_turns

PACKAGES = ("edge-voice", "onnxruntime", "numpy", "piper-tts", "tokenizers", "pyopen-wakeword")
ROOT = Path(__file__).resolve().parents[1]
READY_LIMIT_SECONDS = 600.0


def one_start(recording: Path, scratch: Path, cache: Path) -> dict:
    """Spawn `edge run`, wait for READY=1 on a real notify socket, let it finish; the seconds to READY
    and this child's own peak RSS (os.wait4's rusage of exactly that process)."""
    path = scratch / f"notify-{time.monotonic_ns()}.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(path))
    listener.settimeout(READY_LIMIT_SECONDS)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NOTIFY_SOCKET": str(path), "XDG_CACHE_HOME": str(cache)}
    command = [sys.executable, "-m", "edge", "run", "--input", str(recording), "--out-dir", str(scratch / "out"),
               "--no-cast", "--set", f"skills.database_path={scratch / 'db.sqlite3'}"]
    output = scratch / "stdout.txt"
    started = time.perf_counter()
    with output.open("w") as stdout, (scratch / "stderr.txt").open("w") as stderr:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=stdout, stderr=stderr)
    try:
        while "READY=1" not in listener.recv(4096).decode().splitlines():
            pass
        ready = time.perf_counter() - started
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    finally:
        listener.close()
        path.unlink(missing_ok=True)
        if process.returncode is None:
            process.kill()
            process.wait()
    if process.returncode != 0:
        raise SystemExit(f"edge run failed ({process.returncode}): {(scratch / 'stderr.txt').read_text()[-2000:]}")
    return {"ready_seconds": round(ready, 3), "total_seconds": round(time.perf_counter() - started, 2),
            "peak_rss_mib": round(usage.ru_maxrss / 1024, 1), "turns": output.read_text().count("you:")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cold-start-") as scratch_name:
        scratch = Path(scratch_name)
        audio, _ = build([Segment(alexa_clips(1)[0], demo_turns()[0].wav)])
        recording = scratch / "request.wav"
        write_wav(recording, (audio * 32767).astype(np.int16), 16000)
        first_cache = scratch / "empty-cache"
        first = one_start(recording, scratch, first_cache)  # an empty cache: this start builds the graphs
        rows = [one_start(recording, scratch, first_cache) for _ in range(args.repeats)]
    ready = [row["ready_seconds"] for row in rows]
    result = {
        "repeats": args.repeats,
        "first_start_with_graph_build": first,
        "starts": rows,
        "ready_seconds": {"median": round(statistics.median(ready), 3), "max": max(ready), "min": min(ready)},
        "peak_rss_mib": {"median": statistics.median(row["peak_rss_mib"] for row in rows),
                         "max": max(row["peak_rss_mib"] for row in rows)},
        "load_average": list(os.getloadavg()),
        "targets": {"ready_seconds": 3.0, "peak_rss_mib": 400},
    }
    path = write_result("cold_start", result, PACKAGES)
    print({key: result[key] for key in ("first_start_with_graph_build", "ready_seconds", "peak_rss_mib",
                                        "load_average")})
    print(f"written {path}")


if __name__ == "__main__":
    main()
