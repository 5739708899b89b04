"""The llama.cpp child gets no secrets and does not outlive the runtime (low-severity list).

A stand-in `llama_cpp.server` (first on PYTHONPATH) answers like llama.cpp's server and writes its
pid and environment down, so the test needs neither the model nor the minutes it takes to load.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from helpers.processes import STARTUP_SECONDS, LineReader

ROOT = Path(__file__).resolve().parents[2]

FAKE_SERVER = textwrap.dedent('''
    """Answers /v1/models and /v1/completions like llama.cpp's server; writes its pid and environment."""
    import json, os, sys
    from http.server import BaseHTTPRequestHandler, HTTPServer

    args = sys.argv[1:]
    port = int(args[args.index("--port") + 1])
    report_path = os.path.join(os.path.dirname(__file__), "..", "..", "report.json")  # beside fake/
    with open(report_path, "w") as report:
        json.dump({"pid": os.getpid(), "environ": dict(os.environ)}, report)

    class Handler(BaseHTTPRequestHandler):
        def _answer(self):
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"data": [], "choices": [{"text": "ok"}]}')
        do_GET = do_POST = _answer
        def log_message(self, *args):
            pass

    HTTPServer(("127.0.0.1", port), Handler).serve_forever()
''')

RUNTIME = textwrap.dedent('''
    import sys, time
    from edge.llm.offline import LlamaServer
    from edge.core.settings import OfflineSettings
    server = LlamaServer(OfflineSettings(port=int(sys.argv[1]), gguf_path=sys.argv[2], health_interval_seconds=0.2))
    server.start()
    assert server.wait_ready(60), "the stand-in server never answered"
    print("ready", flush=True)
    time.sleep(3600)
''')


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat")
    return not (state.exists() and state.read_text().split(") ")[-1].startswith("Z"))


def _wait(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def _setup(tmp_path):
    package = tmp_path / "fake" / "llama_cpp"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "server.py").write_text(FAKE_SERVER)
    (package / "__main__.py").write_text("")
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF")
    environment = {
        **os.environ, "PYTHONPATH": f"{tmp_path / 'fake'}{os.pathsep}{ROOT}", "HOME": str(tmp_path / "home"),
        "EDGE_LLM_API_KEY": "sk-cloud-secret", "EDGE_HA_TOKEN": "ha-secret", "AWS_SECRET_ACCESS_KEY": "aws-secret",
    }
    return gguf, environment


def _runtime(tmp_path, port, gguf, environment):
    runtime = subprocess.Popen([sys.executable, "-c", RUNTIME, str(port), str(gguf)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=environment, cwd=tmp_path)
    LineReader(runtime).wait_for("ready", STARTUP_SECONDS)
    return runtime, json.loads((tmp_path / "report.json").read_text())


def test_the_llama_child_gets_no_secrets_and_dies_with_the_runtime(tmp_path):
    gguf, environment = _setup(tmp_path)
    port = _free_port()
    runtime, report = _runtime(tmp_path, port, gguf, environment)
    child = report["pid"]
    try:
        leaked = {name for name in ("EDGE_LLM_API_KEY", "EDGE_HA_TOKEN", "AWS_SECRET_ACCESS_KEY") if name in report["environ"]}
        assert not leaked, f"the llama.cpp child inherited {sorted(leaked)}"
        runtime.send_signal(signal.SIGKILL)  # no atexit, no cleanup
        runtime.wait(10)
        assert _wait(lambda: not _alive(child), 10), "the llama.cpp child outlived a kill -9 of the runtime"
    finally:
        if _alive(child):
            os.kill(child, signal.SIGKILL)


def test_a_server_left_from_a_killed_runtime_is_stopped_by_the_next(tmp_path):
    """A server whose runtime died without telling it (the pidfile says whose it is) is stopped at the next
    start; a pidfile naming some other process is not trusted."""
    gguf, environment = _setup(tmp_path)
    port = _free_port()
    pid_dir = tmp_path / "home" / ".cache" / "edge"
    pid_dir.mkdir(parents=True)
    stale = subprocess.Popen(  # what an earlier runtime had started, still holding the port
        [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1", "--port", str(port)],
        env=environment, start_new_session=True,
    )
    try:
        assert _wait(lambda: (tmp_path / "report.json").exists(), STARTUP_SECONDS)
        (tmp_path / "report.json").unlink()
        (pid_dir / f"llama-server-{port}.pid").write_text(f"{stale.pid}\n")
        runtime, report = _runtime(tmp_path, port, gguf, environment)
        try:
            assert stale.wait(10) is not None and report["pid"] != stale.pid
        finally:
            runtime.kill()
            runtime.wait(10)
            _wait(lambda: not _alive(report["pid"]), 10)
    finally:
        if stale.poll() is None:
            stale.kill()
            stale.wait(10)


def test_a_pidfile_naming_another_process_is_not_trusted(tmp_path):
    from edge.llm.child import ServerPidFile, stop_stale_server

    innocent = subprocess.Popen(["sleep", "60"])
    try:
        pidfile = ServerPidFile(8089, tmp_path)
        pidfile.write(innocent.pid)  # planted, or a pid reused since
        assert stop_stale_server(8089, pidfile) is False
        assert innocent.poll() is None and not pidfile.path.exists()
    finally:
        innocent.kill()
        innocent.wait(10)
