"""How the runtime starts the llama.cpp server: no secrets in its environment, no life after the runtime.

    command = launcher_command(python, "llama_cpp.server", args)   # dies when the runtime dies (Linux)
    process = subprocess.Popen(command, env=child_environment(os.environ), ...)
    pidfile = ServerPidFile(port); pidfile.write(process.pid) ... pidfile.remove()
    stop_stale_server(port)                                        # before starting: one a killed runtime left

- **Environment**: the child gets only what a Python program and llama.cpp need (`PATH`,
  `HOME`, locale, `PYTHONPATH`, thread and GPU variables…); API keys, tokens and passwords the
  runtime holds stay in the runtime.
- **Death with the runtime**: a `kill -9` of the runtime runs no cleanup, and the server (in its
  own session) would keep its port. The launcher asks Linux to send it SIGTERM when its parent
  dies (`PR_SET_PDEATHSIG`) before it runs the server module.
- **Pidfile** (`~/.cache/edge/llama-server-PORT.pid`, in a 0700 folder): where that signal could
  not work (another OS, a frozen runtime), the next start finds the old server by its pidfile and
  stops it, but only a process whose command line is a llama.cpp server on that port.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Mapping
from pathlib import Path

logger = logging.getLogger(__name__)

KEPT_VARIABLES = frozenset({
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TERM", "PYTHONPATH", "PYTHONHOME",
    "VIRTUAL_ENV", "LD_LIBRARY_PATH", "CUDA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES", "OMP_NUM_THREADS",
})
KEPT_PREFIXES = ("LC_", "GGML_", "LLAMA_", "OMP_", "MKL_", "OPENBLAS_")
STOP_SECONDS = 5.0

# Runs in the child before the server module: SIGTERM when the parent dies (Linux), then the module.
LAUNCHER = """\
import ctypes, os, runpy, signal, sys
parent = int(os.environ.pop("EDGE_LLAMA_PARENT", "0") or 0)
try:
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
except (OSError, AttributeError):
    pass  # not Linux: the runtime's pidfile covers it
if parent and os.getppid() != parent:
    sys.exit(0)  # the runtime died before the death signal was armed
sys.argv = sys.argv[1:]
runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
"""


def child_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The part of `environ` the server needs, and the runtime's pid for the launcher."""
    kept = {name: value for name, value in environ.items() if name in KEPT_VARIABLES or name.startswith(KEPT_PREFIXES)}
    return {**kept, "EDGE_LLAMA_PARENT": str(os.getpid())}


def launcher_command(python: str, module: str, args: list[str]) -> list[str]:
    return [python, "-c", LAUNCHER, module, *args]


class ServerPidFile:
    def __init__(self, port: int, folder: Path | None = None) -> None:
        self.folder = folder or Path.home() / ".cache" / "edge"
        self.path = self.folder / f"llama-server-{port}.pid"

    def write(self, pid: int) -> None:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path.write_text(f"{pid}\n", encoding="ascii")

    def read(self) -> int | None:
        try:
            return int(self.path.read_text(encoding="ascii").strip())
        except (OSError, ValueError):
            return None

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def is_llama_server(pid: int, port: int) -> bool:
    """True when `pid` runs a llama.cpp server on `port` (by its command line; Linux /proc)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    words = [word.decode("utf-8", "replace") for word in argv]
    has_port = any(word == "--port" and index + 1 < len(words) and words[index + 1] == str(port)
                   for index, word in enumerate(words))
    return "llama_cpp.server" in words and has_port


def stop_stale_server(port: int, pidfile: ServerPidFile | None = None) -> bool:
    """Stop the server an earlier runtime left on `port` (per its pidfile); True when one was stopped."""
    pidfile = pidfile or ServerPidFile(port)
    pid = pidfile.read()
    if pid is None:
        return False
    if pid == os.getpid() or not is_llama_server(pid, port):
        logger.info("ignoring %s: process %d is not a llama.cpp server on port %d", pidfile.path, pid, port)
        pidfile.remove()
        return False
    logger.warning("stopping the llama.cpp server (pid %d) an earlier runtime left on port %d", pid, port)
    _terminate(pid)
    pidfile.remove()
    return True


def _terminate(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_SECONDS
        while time.monotonic() < deadline and is_alive(pid):
            time.sleep(0.05)
        if is_alive(pid):
            os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return


def is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[-1][:1] != "Z"  # a zombie is gone
    except OSError:
        return True
