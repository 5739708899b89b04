"""`edge service install|uninstall` under a staging root, the unit checked by systemd-analyze, and the
notify protocol over a real AF_UNIX datagram socket with real `edge bridge serve` and `edge run`."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers.processes import SHUTDOWN_SECONDS, STARTUP_SECONDS, LineReader
from helpers.whisper_onnx_fixture import ensure_whisper_onnx

from edge.core.notify import Notifier
from edge.core.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # bench/ builds the conversation

from bench.conversation import Segment, alexa_clips, build  # noqa: E402
from edge.audio.wavio import write_wav  # noqa: E402
from edge.runtime.demo import demo_turns  # noqa: E402


def edge(*args, env=None):
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "edge", *args], cwd=ROOT, env=environment, capture_output=True,
                          text=True, timeout=STARTUP_SECONDS)


def test_install_writes_the_unit_settings_and_state_under_a_staging_root(tmp_path):
    stage = tmp_path / "stage"
    done = edge("service", "install", "--root", str(stage))
    assert done.returncode == 0, done.stderr
    unit = (stage / "etc/systemd/system/edge.service").read_text()
    assert "Type=notify" in unit and "WatchdogSec=60" in unit and "StateDirectory=edge" in unit
    exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    assert exec_start.endswith("run --listen --config /etc/edge/edge.toml --log-format journal -v")
    settings = load_settings(stage / "etc/edge/edge.toml", environ={})
    assert settings.skills.database_path == "/var/lib/edge/edge.sqlite3"
    assert settings.nlu.bundle_dir == "/var/lib/edge/models/current" and settings.metrics.port == 9464
    current = stage / "var/lib/edge/models/current"
    assert current.is_symlink() and (current / "model.onnx").is_file()
    assert (stage / "etc/edge/trusted-keys").is_dir() and (stage / "var/cache/edge").is_dir()


def test_systemd_analyze_verify_accepts_the_unit(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed here (apt-get install systemd)")
    for command in ("run", "bridge"):
        stage = tmp_path / command
        assert edge("service", "install", "--root", str(stage), "--command", command).returncode == 0
        unit = stage / "etc/systemd/system/edge.service"
        verified = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=120)
        if "Failed to initialize" in verified.stderr or "System has not been booted" in verified.stderr:
            pytest.skip(f"systemd-analyze cannot run here: {verified.stderr.strip()}")
        # verify exits 0 even for unknown keys and bad values: it must say nothing at all
        assert (verified.returncode, verified.stderr.strip()) == (0, ""), verified.stderr
    # the check is real: a typo is reported
    broken = tmp_path / "broken.service"
    broken.write_text(unit.read_text().replace("WatchdogSec=", "WatchdogSecs="))
    assert "Unknown key" in subprocess.run([analyze, "verify", str(broken)], capture_output=True, text=True).stderr


def test_reinstall_keeps_an_edited_settings_file_and_uninstall_removes_the_files(tmp_path):
    stage = tmp_path / "stage"
    assert edge("service", "install", "--root", str(stage)).returncode == 0
    config = stage / "etc/edge/edge.toml"
    config.write_text(config.read_text() + "\n[wake]\nmodel = \"hey_jarvis\"\n")
    assert edge("service", "install", "--root", str(stage), "--user", "speaker").returncode == 0
    assert "hey_jarvis" in config.read_text()
    assert "User=speaker" in (stage / "etc/systemd/system/edge.service").read_text()
    removed = edge("service", "uninstall", "--root", str(stage))
    assert removed.returncode == 0 and not (stage / "etc/systemd/system/edge.service").exists() and not config.exists()
    assert (stage / "var/lib/edge/models/current").is_symlink()  # the state stays without --purge
    assert edge("service", "uninstall", "--root", str(stage), "--purge").returncode == 0
    assert not (stage / "var/lib/edge").exists() and not (stage / "etc/edge").exists()


class NotifySocket:
    """What systemd listens on: an AF_UNIX datagram socket; collects every message sent to it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.socket.bind(str(path))
        self.messages: list[dict[str, str]] = []

    def wait_for(self, key: str, value: str | None = None, count: int = 1, timeout: float = STARTUP_SECONDS) -> list[dict]:
        deadline = time.monotonic() + timeout
        while True:
            matching = [m for m in self.messages if key in m and (value is None or m[key] == value)]
            if len(matching) >= count:
                return matching
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {count} x {key}={value} within {timeout:.0f} s; got {self.messages}")
            self.socket.settimeout(remaining)
            try:
                data = self.socket.recv(4096)
            except TimeoutError:
                continue
            self.messages.append(dict(line.split("=", 1) for line in data.decode().splitlines()))

    def close(self) -> None:
        self.socket.close()


@pytest.fixture
def notify_socket(tmp_path):
    listener = NotifySocket(tmp_path / "notify.sock")
    yield listener
    listener.close()


def test_notifier_speaks_the_protocol_and_is_silent_outside_systemd(notify_socket):
    notifier = Notifier.from_environment({"NOTIFY_SOCKET": str(notify_socket.path), "WATCHDOG_USEC": "3000000"})
    assert notifier.watchdog_seconds == 3.0
    notifier.ready("listening")
    ticks = iter([0.0, 0.5, 1.2, 1.3, 2.5])
    ping = notifier.pinger(clock=lambda: next(ticks))
    for _ in range(5):
        ping()  # every third of the 3 s interval at most: at 0.0, 1.2, 2.5
    notifier.stopping()
    messages = notify_socket.wait_for("STOPPING", "1")
    assert notify_socket.messages[0] == {"READY": "1", "STATUS": "listening"}
    assert sum("WATCHDOG" in m for m in notify_socket.messages) == 3 and messages
    silent = Notifier.from_environment({})
    assert not silent.enabled and silent.ready("x") is False
    other_pid = Notifier.from_environment({"NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "1000", "WATCHDOG_PID": "1"})
    assert other_pid.watchdog_seconds is None  # the watchdog was meant for another process


def test_a_full_notify_queue_drops_messages_instead_of_blocking(notify_socket):
    notifier = Notifier(str(notify_socket.path))
    started = time.monotonic()
    sent = [notifier.watchdog() for _ in range(5000)]  # nobody reads: the queue fills up
    assert time.monotonic() - started < 30 and sent[0] and not sent[-1]


def test_an_abstract_socket_name_works():
    name = f"edge-test-{os.getpid()}"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind("\0" + name)
    try:
        assert Notifier(f"@{name}").ready("up")
        listener.settimeout(10)
        assert listener.recv(100) == b"READY=1\nSTATUS=up"
    finally:
        listener.close()


def test_edge_bridge_serve_says_ready_and_feeds_the_watchdog(notify_socket, tmp_path):
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "NOTIFY_SOCKET": str(notify_socket.path),
                   "WATCHDOG_USEC": "600000"}
    process = subprocess.Popen(
        [sys.executable, "-m", "edge", "bridge", "serve", "--wyoming", "tcp://127.0.0.1:0", "--no-zeroconf",
         "--set", f"skills.database_path={tmp_path / 'db.sqlite3'}"],
        cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        LineReader(process).wait_for("Wyoming on port")
        ready = notify_socket.wait_for("READY", "1")[0]
        assert ready["STATUS"].startswith("Wyoming on port ")
        notify_socket.wait_for("WATCHDOG", "1", count=4, timeout=60)  # every 0.2 s
        process.send_signal(signal.SIGINT)
        notify_socket.wait_for("STOPPING", "1", timeout=SHUTDOWN_SECONDS)
        assert process.wait(SHUTDOWN_SECONDS) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(SHUTDOWN_SECONDS)


def test_edge_run_says_ready_reports_each_turn_and_feeds_the_watchdog(notify_socket, tmp_path):
    ensure_whisper_onnx()
    audio, _ = build([Segment(alexa_clips(1)[0], demo_turns()[0].wav)])
    recording = tmp_path / "request.wav"
    write_wav(recording, (audio * 32767).astype(np.int16), 16000)
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "NOTIFY_SOCKET": str(notify_socket.path),
                   "WATCHDOG_USEC": "300000"}
    process = subprocess.Popen(
        [sys.executable, "-m", "edge", "run", "--input", str(recording), "--out-dir", str(tmp_path / "out"), "--no-cast",
         "--set", f"skills.database_path={tmp_path / 'db.sqlite3'}"],
        cwd=ROOT, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        notify_socket.wait_for("STOPPING", "1")  # read while it runs, as systemd does
        assert process.wait(SHUTDOWN_SECONDS) == 0, process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(SHUTDOWN_SECONDS)
    kinds = [next(iter(m)) for m in notify_socket.messages]
    assert kinds[0] == "READY" and kinds[-1] == "STOPPING" and "WATCHDOG" in kinds
    statuses = [m["STATUS"] for m in notify_socket.messages if "STATUS" in m and "READY" not in m]
    assert any(status.startswith("1 turn(s); last: local via ") for status in statuses), statuses


def test_the_service_run_refuses_to_play_the_demo_without_a_microphone(tmp_path):
    no_audio = tmp_path / "no-audio"
    no_audio.mkdir()
    (no_audio / "sounddevice.py").write_text("raise ImportError('no PortAudio on this speaker')\n")
    done = edge("run", "--listen", "--set", f"skills.database_path={tmp_path / 'db'}",
                env={"PYTHONPATH": f"{no_audio}{os.pathsep}{ROOT}"})
    assert done.returncode == 3 and "no microphone found" in done.stderr and "demo" not in done.stdout
