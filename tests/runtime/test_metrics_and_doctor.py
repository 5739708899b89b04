"""/metrics in Prometheus' text format (from a real `edge bridge serve` after a real satellite turn),
and `edge doctor`'s checks with their one-line fixes."""

import json
import os
import re
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from helpers.processes import STARTUP_SECONDS, LineReader, interrupt
from helpers.whisper_onnx_fixture import ensure_whisper_onnx

from edge.core.settings import load_settings
from edge.runtime.demo import demo_turns
from edge.runtime.doctor import run_checks
from edge.runtime.metrics import BUCKETS, Metrics, MetricsServer

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = re.compile(r'^([a-z_]+)(\{[^}]*\})? (-?[0-9.e+]+)$')


def samples(text: str) -> dict[str, float]:
    """`name{labels}` -> value for every sample line; every other line is a HELP or TYPE comment."""
    found = {}
    for line in text.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            continue
        match = SAMPLE.match(line)
        assert match, f"not Prometheus text format: {line!r}"
        found[match.group(1) + (match.group(2) or "")] = float(match.group(3))
    return found


class _Alerts:
    def outcomes(self):
        return {("alarm", "due"): 2, ("alarm", "rung"): 1, ("timer", "missed"): 1}


def test_traces_become_counters_and_cumulative_histograms():
    metrics = Metrics()
    metrics.observe({"route": "local", "skill": "alarm", "stages_ms": {"asr": 55.0, "end_of_speech_to_first_audio": 210.0}})
    metrics.observe({"route": "cloud", "skill": "cloud", "stages_ms": {"asr": 400.0}, "error": {"code": "llm-timeout"}})
    metrics.watch_alerts(_Alerts())
    found = samples(metrics.render())
    assert found['edge_turns_total{route="local",skill="alarm"}'] == 1
    assert found['edge_turn_errors_total{code="llm-timeout"}'] == 1
    assert found['edge_stage_seconds_bucket{stage="asr",le="0.1"}'] == 1  # 55 ms
    assert found['edge_stage_seconds_bucket{stage="asr",le="0.5"}'] == 2  # and 400 ms: cumulative
    assert found['edge_stage_seconds_bucket{stage="asr",le="+Inf"}'] == 2
    assert found['edge_stage_seconds_sum{stage="asr"}'] == pytest.approx(0.455)
    assert found['edge_alerts_total{kind="alarm",outcome="rung"}'] == 1
    assert found["edge_process_resident_memory_bytes"] > 10 * 2**20
    buckets = [key for key in found if key.startswith('edge_stage_seconds_bucket{stage="tts"')]
    assert len(buckets) == len(BUCKETS) + 1


def test_the_server_answers_metrics_only_and_only_on_loopback():
    server = MetricsServer(Metrics(), "127.0.0.1", 0).start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=10) as answer:
            assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            assert "edge_process_start_time_seconds" in answer.read().decode()
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"http://127.0.0.1:{server.port}/", timeout=10)
        assert refused.value.code == 404
    finally:
        server.close()
    assert load_settings(environ={}).metrics.host == "127.0.0.1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_bridge_serve_counts_a_satellites_turn_on_metrics(tmp_path):
    ensure_whisper_onnx()
    port = free_port()
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(
        [sys.executable, "-m", "edge", "bridge", "serve", "--wyoming", "tcp://127.0.0.1:0", "--no-zeroconf",
         "--set", f"metrics.port={port}", "--set", f"skills.database_path={tmp_path / 'db.sqlite3'}"],
        cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = LineReader(server).wait_for("Wyoming on port")
        wyoming = int(re.search(r"port (\d+)", line).group(1))
        asked = subprocess.run(
            [sys.executable, "-m", "edge", "bridge", "satellite", "--server", f"tcp://127.0.0.1:{wyoming}",
             "--wav", str(demo_turns()[0].wav), "--speed", "0", "--json", "--name", "kitchen"],
            cwd=ROOT, env=environment, capture_output=True, text=True, timeout=STARTUP_SECONDS)
        assert asked.returncode == 0, asked.stderr
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as answer:
            found = samples(answer.read().decode())
        turns = {key: value for key, value in found.items() if key.startswith("edge_turns_total")}
        assert turns == {'edge_turns_total{route="local",skill="clock"}': 1.0}, turns
        assert found['edge_stage_seconds_count{stage="asr"}'] == 1
        assert found["edge_process_peak_resident_memory_bytes"] > 100 * 2**20
    finally:
        interrupt(server)


def test_doctor_reports_each_check_with_a_fix_for_each_problem(tmp_path):
    keys = tmp_path / "keys"
    keys.mkdir()
    settings = load_settings(environ={}, overrides={
        "skills.database_path": str(tmp_path / "db.sqlite3"), "update.trusted_keys_dir": str(keys),
        "llm.base_url": f"http://127.0.0.1:{free_port()}/v1",  # nobody listens there
        "bridge.satellites": f"tcp://127.0.0.1:{free_port()}", "cast.enabled": "false",
        "asr.onnx_dir": str(tmp_path / "not-built"),
    })
    checks = {check.name: check for check in run_checks(settings)}
    assert set(checks) == {"audio/microphone", "audio/speaker", "models/intent", "models/asr", "models/voice",
                           "models/wake", "disk", "clock", "cloud", "screens", "satellites", "updates", "updates/line"}
    assert checks["models/intent"].status == "ok" and checks["models/voice"].status == "ok"
    assert checks["models/asr"].status == "warn" and "first start builds them" in checks["models/asr"].fix
    assert checks["cloud"].status == "fail" and "llm.base_url" in checks["cloud"].fix
    assert checks["satellites"].status == "fail" and "bridge.satellites" in checks["satellites"].fix
    assert checks["updates"].status == "warn" and checks["screens"].status == "skip"
    assert checks["updates/line"].status == "skip" and "on no product line" in checks["updates/line"].detail
    assert checks["models/intent"].detail.startswith("version hwu64-minilm-int8 (")  # the shipped bundle: its folder
    for check in checks.values():
        assert "\n" not in check.fix and (check.status in ("ok", "skip") or check.fix)


def test_edge_doctor_exits_1_when_a_check_fails_and_prints_json(tmp_path):
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "edge", "doctor", "--json", "--set", "cast.enabled=false",
         "--set", "wake.model=/nowhere/wake.tflite", "--set", f"skills.database_path={tmp_path / 'db'}"],
        cwd=ROOT, env=environment, capture_output=True, text=True, timeout=STARTUP_SECONDS)
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    wake = next(row for row in rows if row["name"] == "models/wake")
    assert done.returncode == 1 and wake["status"] == "fail" and "wake.model" in wake["fix"]
