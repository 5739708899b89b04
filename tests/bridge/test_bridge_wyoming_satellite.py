"""Interoperability with `wyoming-satellite` (PyPI), the satellite software Home Assistant users run.

wyoming-satellite is a server: Home Assistant dials it. So does `edge bridge serve --satellite URI`.
It pins an old wyoming (1.4.1), so it lives in its own virtual environment, made here once
(cached under ~/.cache/edge-voice/) or named by $EDGE_WYOMING_SATELLITE_PYTHON. No sound card:
its microphone is a command that plays a file in real time, its speaker a command that writes a
file, and its "wake word engine" a command that fires on a quiet chirp before the request.
"""

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers.bridge_server import ServerThread
from helpers.processes import SHUTDOWN_SECONDS, STARTUP_SECONDS, wait_for_port

from edge.runtime.demo import demo_turns
from firmware_bridge.simulator import wav_request_pcm

SATELLITE_VERSION = "1.0.0"
VENV = Path.home() / ".cache" / "edge-voice" / f"wyoming-satellite-{SATELLITE_VERSION}"

MIC = r"""
import os, sys, time
trigger, request = sys.argv[1], sys.argv[2]
chunk, out = 2048, sys.stdout.buffer
started, sent = time.monotonic(), 0
def emit(data):
    global sent
    out.write(data); out.flush(); sent += len(data)
    time.sleep(max(0.0, started + sent / 32000 - time.monotonic()))
try:
    while not os.path.exists(trigger):
        emit(bytes(chunk))
    data = open(request, "rb").read()
    for start in range(0, len(data), chunk):
        emit(data[start:start + chunk].ljust(chunk, b"\0"))
    while True:
        emit(bytes(chunk))
except BrokenPipeError:
    pass
"""

WAKE = r"""
import sys
armed = True
while data := sys.stdin.buffer.read(2048):
    loud = max((abs(int.from_bytes(data[i:i + 2], "little", signed=True)) for i in range(0, len(data) - 1, 2)), default=0) > 30
    if loud and armed:
        print("okay_nabu", flush=True)
    armed = not loud
"""


def satellite_python() -> Path:
    named = os.environ.get("EDGE_WYOMING_SATELLITE_PYTHON")
    if named:
        return Path(named)
    python = VENV / "bin" / "python"
    if not python.exists():
        try:
            subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True, capture_output=True, timeout=STARTUP_SECONDS)
            subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                            f"wyoming-satellite=={SATELLITE_VERSION}"], check=True, capture_output=True, timeout=STARTUP_SECONDS)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
            output = getattr(error, "stderr", b"") or b""
            pytest.skip(f"wyoming-satellite {SATELLITE_VERSION} could not be installed into {VENV}: "
                        f"{output.decode(errors='replace')[-300:]}")
    return python


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    running = ServerThread(tmp_path_factory.mktemp("skills") / "edge.sqlite3",
                           **{"bridge.reconnect_min_seconds": 0.2, "bridge.reconnect_max_seconds": 1.0})
    yield running
    running.close()


def request_audio() -> bytes:
    """A quiet chirp (the "wake word"), a pause, the request, then silence, as 16 kHz int16."""
    chirp = (100 * np.sin(2 * np.pi * 1000 * np.arange(3200) / 16000)).astype("<i2").tobytes()
    return chirp + bytes(16000) + wav_request_pcm(demo_turns()[0].wav) + bytes(48000)


def test_wyoming_satellite_completes_a_turn_with_our_server(server, tmp_path):
    python = satellite_python()
    (tmp_path / "mic.py").write_text(MIC)
    (tmp_path / "wake.py").write_text(WAKE)
    (tmp_path / "request.raw").write_bytes(request_audio())
    trigger, spoken = tmp_path / "go", tmp_path / "reply.raw"
    port = free_port()
    command = [
        str(python), "-m", "wyoming_satellite", "--uri", f"tcp://127.0.0.1:{port}", "--name", "lounge-sat",
        "--area", "lounge", "--no-zeroconf",
        "--mic-command", f"{sys.executable} {tmp_path / 'mic.py'} {trigger} {tmp_path / 'request.raw'}",
        "--wake-command", f"{sys.executable} {tmp_path / 'wake.py'}",
        "--snd-command", f"sh -c 'cat >> {spoken}'",
    ]
    satellite = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, process=satellite)
        dialer = server.call(_dial(server, f"tcp://127.0.0.1:{port}"))
        session = _wait(lambda: server.server.hub.sessions.get("lounge-sat"), server, STARTUP_SECONDS, "wyoming-satellite never said hello")
        assert session.room == "lounge"
        trigger.touch()  # the user speaks
        _wait(lambda: session.turns >= 1, server, STARTUP_SECONDS, "no turn ran")
        trace = server.inspect(lambda: session.last_trace)
        assert trace["transcript"] == "What time is it?"
        assert trace["reply"] == "It's 7:05 AM."
        expected_bytes = round(trace["reply_audio_seconds"] * 22050) * 2
        slack = 4096  # wyoming-satellite may hold back its last partial chunk
        deadline = time.monotonic() + STARTUP_SECONDS
        while (not spoken.exists() or spoken.stat().st_size < expected_bytes - slack) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert spoken.exists(), "wyoming-satellite played nothing"
        assert abs(spoken.stat().st_size - expected_bytes) <= slack  # the whole reply, as 22.05 kHz int16
        server.call(_cancel(dialer))
    finally:
        satellite.terminate()
        try:
            log = satellite.communicate(timeout=SHUTDOWN_SECONDS)[0].decode(errors="replace")
        except subprocess.TimeoutExpired:
            satellite.kill()
            log = ""
    assert "Traceback" not in log, log[-2000:]


async def _dial(server, uri):
    return server.server.add_satellite(uri)


async def _cancel(task):
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def _wait(condition, server, seconds, message):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = server.inspect(condition)
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(message)
