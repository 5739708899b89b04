"""Test helper: `distill` as a child process, alone or under `accelerate launch`, and the tiny
chain (configs/tiny.yaml) that several distill tests share.

    result = distill("run", str(TINY), "--set", f"work={work}", "--set", f"out={out}")
    result = launched(2, "-m", "distill", "run", str(TINY), ...)   # the same, as two data-parallel processes
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "configs" / "tiny.yaml"
CONTEXT = ROOT.parent / "shared" / "data" / "picovoice_speech_to_intent" / "coffee_maker_context.yaml"
# A bound on a hang, not a timing: the tiny chain takes about 2 minutes on two quiet cores, and
# CI's two cores may be shared with other work.
RUN_SECONDS = 1800


def distill(*args: str, cwd: Path = ROOT, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "distill", *args],
        cwd=cwd, env=env or _env(), capture_output=True, text=True, timeout=RUN_SECONDS,
    )


def launched(processes: int, *target: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """`accelerate launch --multi_gpu --num_processes N TARGET` with no GPU visible: N processes
    (torchrun) that train data-parallel on the CPU over gloo; TARGET is `-m distill run ...` or
    a script and its arguments. (`accelerate launch --cpu` would start one process whatever
    --num_processes says: docs/distill.md.)"""
    env = _env(CUDA_VISIBLE_DEVICES="")
    command = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes),
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
        "--main_process_port", str(free_port()), *target,
    ]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=2 * RUN_SECONDS)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _env(**extra: str) -> dict[str, str]:
    return dict(os.environ, OMP_WAIT_POLICY="PASSIVE", **extra)
