"""`make run` on a fresh clone takes the fast path: a new user's first run, then the same figures
once `make test`'s installs are done, on the same machine in the same run.

    python -m bench.fresh_clone [--repo PATH] [--branch NAME] [--work /tmp/fresh-clone] [--rounds 2]

Clones the branch twice, each with an empty user cache (XDG_CACHE_HOME; pip keeps its own cache
so installs take seconds). In the first, `make run`: the runtime-only .venv, the Whisper graphs
built on first use, the demo conversation; it records which ASR engine answered (a fallback to
faster-whisper says so on stderr), the progress line, casting, and each demo turn's timings. In
the second, what `make test` installs and builds before pytest (`make .venv/.test whisper-onnx`:
the test and training extras, torch included). Then `bench.turn_latency` in each clone,
alternating, `--rounds` times, and the median p50 of end of speech to first reply audio of each.
Writes bench/results/fresh_clone.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import time
from pathlib import Path

from bench.provenance import write_result

PACKAGES = ("edge-voice", "onnxruntime", "onnx")
ROOT = Path(__file__).resolve().parents[1]
TIMING = re.compile(r"^timing: (.*)$", re.MULTILINE)


def sh(command: list[str], cwd: Path, env: dict[str, str], log: Path) -> tuple[float, str, str]:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    log.write_text(f"$ {' '.join(command)}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}\n")
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}); see {log}")
    return seconds, done.stdout, done.stderr


def demo_timings(stdout: str) -> list[dict[str, float]]:
    """The `timing:` line of each demo turn as {stage: ms}."""
    rows = []
    for line in TIMING.findall(stdout):
        stages = dict(part.rsplit(" ", 2)[:2] for part in line.split(", "))
        rows.append({name: float(value) for name, value in stages.items()})
    return rows


def turn_latency(clone: Path, env: dict[str, str], log: Path) -> dict:
    seconds, _, _ = sh([str(clone / ".venv" / "bin" / "python"), "-m", "bench.turn_latency"], clone, env, log)
    result = json.loads((clone / "bench" / "results" / "turn_latency.json").read_text())
    return {"seconds": round(seconds, 1), "load_average_1m": result["machine"]["load_average_1m"],
            "models_load_seconds": result["models_load_seconds"], "stages_ms": result["stages_ms"],
            "edge_ask_process": result["edge_ask_process"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", default=str(ROOT), help="the repository to clone (default: this checkout)")
    parser.add_argument("--branch", default="", help="branch to clone (default: the checkout's current branch)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/fresh-clone"), help="emptied, then cloned into")
    parser.add_argument("--rounds", type=int, default=2, help="turn_latency runs per clone, alternating (default 2)")
    args = parser.parse_args()
    branch = args.branch or subprocess.run(["git", "rev-parse", "--abbrev-ref", "HEAD"], cwd=ROOT, capture_output=True,
                                           text=True, check=True).stdout.strip()
    if args.work.exists():
        shutil.rmtree(args.work)
    logs = args.work / "logs"
    logs.mkdir(parents=True)
    clones = {name: clone_into(args.repo, branch, args.work / name) for name in ("after_make_run", "after_make_test_installs")}
    envs = {name: environment(args.work / name / "cache") for name in clones}
    run_clone, test_clone = clones["after_make_run"], clones["after_make_test_installs"]
    seconds, stdout, stderr = sh(["make", "run"], run_clone, envs["after_make_run"], logs / "make-run.log")
    demo = demo_timings(stdout)
    result: dict = {"branch": branch, "clone_commit": git_head(run_clone), "make_run": {
        "seconds": round(seconds, 1),
        "onnx_path": "onnx-whisper unavailable" not in stderr,
        "built_graphs_line": next((line for line in stderr.splitlines() if "building the Whisper ONNX graphs" in line), None),
        "casting_off_line": next((line for line in stderr.splitlines() if "screen casting is off" in line), None),
        "stderr_lines": [line for line in stderr.splitlines() if line.startswith(("WARNING", "ERROR", "edge"))],
        "demo_turns": demo,
        "asr_ms": [turn.get("asr") for turn in demo],
    }}
    # The second clone gets what `make test` installs and builds before pytest (test and training extras).
    seconds, _, _ = sh(["make", ".venv/.test", "whisper-onnx"], test_clone, envs["after_make_test_installs"],
                       logs / "make-test-installs.log")
    result["make_test_installs_seconds"] = round(seconds, 1)
    runs: dict[str, list[dict]] = {name: [] for name in clones}
    for round_number in range(args.rounds):  # alternating, so a busy machine slows both alike
        for name, clone in clones.items():
            runs[name].append(turn_latency(clone, envs[name], logs / f"turn-latency-{name}-{round_number}.log"))
    result["turn_latency"] = runs
    p50 = {name: statistics.median(run["stages_ms"]["end_of_speech_to_first_audio"]["p50"] for run in rows)
           for name, rows in runs.items()}
    result["end_of_speech_to_first_audio_p50_ms"] = p50
    result["ratio_after_make_run_to_after_make_test"] = round(p50["after_make_run"] / p50["after_make_test_installs"], 3)
    path = write_result("fresh_clone", result, PACKAGES)
    print(json.dumps({key: result[key] for key in ("make_run", "end_of_speech_to_first_audio_p50_ms",
                                                   "ratio_after_make_run_to_after_make_test")}, indent=1))
    print(f"written {path}")


def clone_into(repo: str, branch: str, folder: Path) -> Path:
    (folder / "cache").mkdir(parents=True)
    subprocess.run(["git", "clone", "-q", "--branch", branch, repo, str(folder / "clone")], check=True)
    return folder / "clone"


def environment(cache: Path) -> dict[str, str]:
    """An empty user cache (no Whisper graphs), pip's own cache kept (installs take seconds)."""
    pip_cache = Path(os.environ.get("PIP_CACHE_DIR") or Path.home() / ".cache" / "pip")
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update({"XDG_CACHE_HOME": str(cache), "PIP_CACHE_DIR": str(pip_cache)})
    return env


def git_head(folder: Path) -> str:
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=folder, capture_output=True, text=True).stdout.strip()


if __name__ == "__main__":
    main()
