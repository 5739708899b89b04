"""Load on the Wyoming bridge: many satellites streaming requests at once to one `edge bridge serve`.

    python -m bench.bridge_load [--satellites 8] [--rounds 1] [--speed 1.0] [--workers 1]

Starts `edge bridge serve` (real models) on 127.0.0.1, then: one satellite asking the demo requests
one after another (the single-satellite figure), and `--satellites` satellites, each in its
own room, all streaming the demo requests at once at real time (`--speed` 1). The turn
latency is from the end of audio-stop being written to the first reply audio chunk read back.
Writes bench/results/bridge_load.json with p50/p95/max next to each other, every turn's
outcome, and the server's peak memory.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.provenance import write_result
from edge.runtime.demo import demo_turns
from firmware_bridge.client import WyomingClient
from firmware_bridge.simulator import TurnReport, collect_reply, hello, stream_request, wav_request_pcm

PACKAGES = ("edge-voice", "onnxruntime", "ctranslate2", "faster-whisper", "piper-tts", "numpy")


def start_server(port: int, database: Path, workers: int) -> subprocess.Popen:
    command = [sys.executable, "-m", "edge", "bridge", "serve", "--wyoming", f"tcp://127.0.0.1:{port}", "--no-zeroconf",
               "--set", f"skills.database_path={database}", "--set", f"bridge.inference_workers={workers}"]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    line = server.stdout.readline()
    if "Wyoming on port" not in line:
        server.kill()
        raise SystemExit(f"edge bridge serve did not start: {line}{server.stdout.read()}")
    return server


def peak_rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


async def satellite(port: int, name: str, requests: list[tuple[str, bytes]], speed: float) -> list[dict]:
    """One satellite on one connection, asking its requests one after another."""
    client = await WyomingClient.connect("127.0.0.1", port)
    outcomes = []
    try:
        await hello(client, name, name, 30)
        for wav_name, pcm in requests:
            started = time.perf_counter()
            stopped_at = await stream_request(client, pcm, speed)
            report = await collect_reply(client, TurnReport(), stopped_at, 120)
            outcomes.append({
                "satellite": name, "wav": wav_name, "answered": report.answered, "transcript": report.transcript,
                "latency_ms": None if report.latency_seconds is None else round(report.latency_seconds * 1000, 1),
                "turn_wall_ms": round((time.perf_counter() - started) * 1000, 1),
                "error": None if report.error is None else report.error.code,
            })
    finally:
        await client.close()
    return outcomes


def stats(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    return {"n": len(values), "p50": round(float(np.percentile(values, 50)), 1), "p95": round(float(np.percentile(values, 95)), 1),
            "max": round(max(values), 1), "mean": round(float(np.mean(values)), 1)}


async def measure(port: int, satellites: int, rounds: int, speed: float) -> dict:
    demo = [(turn.wav.name, wav_request_pcm(turn.wav)) for turn in demo_turns()]
    await satellite(port, "warm-up", demo[:1], 0)
    single = await satellite(port, "single", demo * rounds, speed)
    started = time.perf_counter()
    crowd = await asyncio.gather(*(
        satellite(port, f"sat-{index}", (demo[index % len(demo):] + demo[: index % len(demo)]) * rounds, speed)
        for index in range(satellites)
    ))
    crowd_seconds = time.perf_counter() - started
    many = [outcome for outcomes in crowd for outcome in outcomes]
    expected = {o["wav"]: o["transcript"] for o in single}
    return {
        "single": single, "many": many, "crowd_seconds": round(crowd_seconds, 1),
        "transcripts_match_single": all(o["transcript"] == expected[o["wav"]] for o in many),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--satellites", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=1, help="times each satellite asks the six demo requests")
    parser.add_argument("--speed", type=float, default=1.0, help="1: stream in real time, as a microphone does")
    parser.add_argument("--workers", type=int, default=1, help="bridge.inference_workers of the server")
    parser.add_argument("--port", type=int, default=10799)
    args = parser.parse_args()
    load_before = [round(value, 2) for value in os.getloadavg()]
    with tempfile.TemporaryDirectory() as scratch:
        server = start_server(args.port, Path(scratch) / "edge.sqlite3", args.workers)
        try:
            measured = asyncio.run(measure(args.port, args.satellites, args.rounds, args.speed))
            server_rss = peak_rss_mib(server.pid)
        finally:
            server.terminate()
            server.wait(30)
    single, many = measured["single"], measured["many"]
    result = {
        "setup": {"satellites": args.satellites, "rounds": args.rounds, "speed": args.speed, "inference_workers": args.workers,
                  "requests": [turn.wav.name for turn in demo_turns()], "transport": "TCP over 127.0.0.1",
                  "latency": "audio-stop written -> first reply audio-chunk read"},
        "single_satellite_latency_ms": stats([o["latency_ms"] for o in single if o["latency_ms"] is not None]),
        "many_satellites_latency_ms": stats([o["latency_ms"] for o in many if o["latency_ms"] is not None]),
        "turns": {"single": len(single), "single_answered": sum(o["answered"] for o in single),
                  "many": len(many), "many_answered": sum(o["answered"] for o in many),
                  "all_completed": all(o["answered"] for o in single + many),
                  "transcripts_match_single": measured["transcripts_match_single"]},
        "many_wall_seconds": measured["crowd_seconds"],
        "server_peak_rss_mib": server_rss,
        "load_average_1_5_15_min": {"before": load_before, "after": [round(value, 2) for value in os.getloadavg()],
                                    "note": "other work on the machine shares its CPUs; compare figures taken under similar load"},
        "outcomes": {"single": single, "many": many},
    }
    path = write_result("bridge_load", result, PACKAGES)
    print(f"single: {result['single_satellite_latency_ms']}\nmany:   {result['many_satellites_latency_ms']}\n"
          f"turns:  {result['turns']}\nwrote {path}")


if __name__ == "__main__":
    main()
