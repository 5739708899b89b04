"""The CI soak: `python -m bench.soak` for 60 s with 4 satellites (a 2-core runner), asserting the
issue-19 targets: every alert rung, no acknowledged row lost across two kill -9s, and RSS growth
under 10 % and no file-descriptor growth for any start that lived long enough to be judged."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SECONDS = 60
LIMIT_SECONDS = 900  # the load, three model loads, the kills' waits and the alerts' on a loaded runner


def test_soak_meets_its_targets(tmp_path):
    for module in ("aiohttp", "zeroconf", "serial"):
        pytest.importorskip(module, reason="the soak needs the cast and bridge extras: pip install -e '.[cast,bridge]'")
    out = tmp_path / "soak.json"
    finished = subprocess.run(
        [sys.executable, "-m", "bench.soak", "--seconds", str(SECONDS), "--satellites", "4", "--out", str(out)],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=LIMIT_SECONDS,
    )
    assert finished.returncode == 0, finished.stderr[-4000:]
    result = json.loads(out.read_text())
    targets, turns, alerts, rows = result["targets"], result["turns"], result["alerts"], result["rows"]
    assert result["soak_failures"] == []

    assert targets["all_alerts_rung"], alerts["not_rung"]
    assert alerts["rung_of_those"] == alerts["due_while_the_runtime_was_down"]  # rung after the restart

    assert [check["when"] for check in rows] == ["after kill 1", "after kill 2", "at the end"]
    assert targets["no_committed_row_lost"], rows
    assert all(check["integrity"] == "ok" for check in rows[:2])
    assert rows[-1]["committed"] > 0

    # Each start lives ~20 s here, mostly warm-up: memory and descriptors are judged only for a start
    # with 30 s of warm samples (the 10-minute run judges all three; bench/results/soak.json).
    assert targets["rss_growth_under_10_pct"] in (True, None), result["resources"]
    assert targets["no_fd_growth"] in (True, None), result["resources"]

    assert turns["served"] > 0 and turns["latency_ms"]["p95"] > 0
    assert turns["by_kind"]["query"]["served"] == 0 or result["companion"]["cards_shown"] > 0
    assert turns["latency_ms_uart_board"]["n"] > 0  # the board was served, unplugged and plugged in again
    assert result["uart_board"]["plugged_in"] == 3
    assert result["command"] == f"python -m bench.soak --seconds {SECONDS} --satellites 4 --out {out}"
