"""Test helper: wait for a child process's readiness line instead of sleeping or guessing.

    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = LineReader(process)
    line = lines.wait_for("Wyoming on port")            # blocks until the line, the exit, or the limit

Start-up loads models, which takes many times longer when CI shares its two cores with other
work, so `STARTUP_SECONDS` is generous: it bounds a hang, it does not time a healthy start.
"""

from __future__ import annotations

import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable

# Model loading at a load of 4 on 2 cores took up to ~4x a quiet start (about 10 s here); this
# only catches a process that will never be ready.
STARTUP_SECONDS = 600.0
# A clean shutdown after SIGINT or SIGTERM: closing models, joining threads, flushing databases.
SHUTDOWN_SECONDS = 120.0


class LineReader:
    """Reads a child's stdout (and stderr) on threads, so a test can wait for one line with a limit."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.process = process
        self._lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self.errors: list[str] = []
        self._threads = [threading.Thread(target=self._pump, args=(process.stdout, self._lines.put), daemon=True)]
        if process.stderr is not None:
            self._threads.append(threading.Thread(target=self._pump, args=(process.stderr, None), daemon=True))
        for thread in self._threads:
            thread.start()

    def _pump(self, stream, put: Callable[[str | None], None] | None) -> None:
        for line in iter(stream.readline, ""):
            if put is None:
                self.errors.append(line)
            else:
                put(line)
        if put is not None:
            put(None)

    def wait_for(self, wanted: str | Callable[[str], bool], timeout: float = STARTUP_SECONDS) -> str:
        """The first stdout line containing `wanted` (or for which it is true); fails with what was seen."""
        matches = wanted if callable(wanted) else (lambda line: wanted in line)
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no line matching {wanted!r} within {timeout:.0f} s; stdout: {self.seen[-20:]}; "
                                     f"stderr: {''.join(self.errors)[-2000:]}")
            try:
                line = self._lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                self.process.wait(SHUTDOWN_SECONDS)
                for thread in self._threads:
                    thread.join(5)
                raise AssertionError(f"the process exited ({self.process.returncode}) before a line matching "
                                     f"{wanted!r}; stdout: {self.seen[-20:]}; stderr: {''.join(self.errors)[-2000:]}")
            self.seen.append(line)
            if matches(line):
                return line

    def stderr_text(self) -> str:
        """What the child wrote to stderr so far (all of it once the process has exited)."""
        if self.process.poll() is not None:
            for thread in self._threads[1:]:
                thread.join(5)
        return "".join(self.errors)


def wait_for_port(port: int, host: str = "127.0.0.1", timeout: float = STARTUP_SECONDS,
                  process: subprocess.Popen | None = None) -> None:
    """Block until something accepts TCP connections on host:port (a child's readiness signal)."""
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the process exited ({process.returncode}) before listening on {host}:{port}")
        try:
            socket.create_connection((host, port), timeout=1.0).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listened on {host}:{port} within {timeout:.0f} s")


def interrupt(process: subprocess.Popen) -> int | None:
    """Ctrl-C the child and wait for its clean shutdown; kill it if it hangs. Its exit status."""
    process.send_signal(signal.SIGINT)
    try:
        return process.wait(SHUTDOWN_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(SHUTDOWN_SECONDS)
        return None
