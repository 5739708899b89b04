"""The runtime under test: `edge bridge serve` as a child process, started, killed with -9, restarted.

    runtime = RuntimeProcess(command, environ, log_path)
    await runtime.start()          # returns once it printed "Wyoming on port" (models loaded)
    runtime.sample()               # {"rss_mib": …, "fds": …, "fd_listing": {what: count}} from /proc
    runtime.kill()                 # SIGKILL: no clean-up, no flush, whatever was in flight is cut
    await runtime.stop()           # SIGINT (Ctrl-C): the runtime closes its models and databases

Every start appends the child's output to one log file, so a failure can be read afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import time
from collections import Counter
from pathlib import Path
from typing import Any

READY = "Wyoming on port"
STARTUP_SECONDS = 600.0  # model loading on a loaded 2-core machine; only catches a child that never gets ready
STOP_SECONDS = 120.0


def free_port() -> int:
    """A TCP port free on loopback now (kept for every restart, so satellites find the runtime again)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def proc_sample(pid: int) -> dict[str, Any] | None:
    """Resident memory (MiB), open file descriptors and what they are, of a live process; None once it is gone."""
    try:
        rss_kib = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                       if line.startswith("VmRSS:"))
        listing = fd_listing(pid)
    except (OSError, StopIteration, ValueError):
        return None
    return {"rss_mib": round(rss_kib / 1024, 1), "fds": sum(listing.values()), "fd_listing": dict(listing)}


_TCP_STATES = {"01": "established", "02": "syn-sent", "06": "time-wait", "08": "close-wait", "0A": "listening"}


def fd_listing(pid: int) -> Counter[str]:
    """What a process's descriptors are, counted: a file's path, "pipe", "tcp listening on :P",
    "tcp established to :P" (its peer is a server on port P), "tcp established from a peer of :P"
    (accepted on its port P), other sockets and anonymous inodes by kind. So a growing count says
    which kind of descriptor grows (a leaked socket to the LLM reads differently from a satellite)."""
    sockets: dict[str, tuple[int, int, str]] = {}  # inode -> (local port, remote port, state)
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
                fields = line.split()
                local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
                sockets[inode] = (int(local.rsplit(":", 1)[1], 16), int(remote.rsplit(":", 1)[1], 16),
                                  _TCP_STATES.get(state, f"state {state}"))
    listening = {local for local, _, state in sockets.values() if state == "listening"}
    counts: Counter[str] = Counter()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            found = sockets.get(target[8:-1])
            if found is None:
                what = "socket (unix or other)"
            else:
                local, remote, state = found
                what = (f"tcp {state} on :{local}" if state == "listening" else
                        f"tcp {state} from a peer of :{local}" if local in listening else f"tcp {state} to :{remote}")
        elif target.startswith("pipe:["):
            what = "pipe"
        else:  # a file's path, or anon_inode:[eventfd] and the like
            what = target
        counts[what] += 1
    return counts


class RuntimeProcess:
    def __init__(self, command: list[str], environ: dict[str, str], log_path: Path, cwd: Path) -> None:
        self.command = command
        self.environ = environ
        self.log_path = log_path
        self.cwd = cwd
        self.process: asyncio.subprocess.Process | None = None
        self.starts: list[dict[str, float]] = []  # when each start began and how long it took to be ready
        self._drain: asyncio.Task | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None and self.process.returncode is None else None

    async def start(self) -> float:
        """Start the runtime and wait for its ready line; seconds it took."""
        began = time.monotonic()
        with self.log_path.open("ab") as log:
            log.write(f"\n--- start {len(self.starts)} at {time.strftime('%H:%M:%S')}\n".encode())
            self.process = await asyncio.create_subprocess_exec(
                *self.command, cwd=self.cwd, env=self.environ, stdout=asyncio.subprocess.PIPE, stderr=log,
            )
        stdout = self.process.stdout
        seen = []
        while True:
            line = await asyncio.wait_for(stdout.readline(), STARTUP_SECONDS)
            if not line:
                await self.process.wait()
                raise RuntimeError(f"edge bridge serve exited ({self.process.returncode}) before it was ready: "
                                   f"{b''.join(seen).decode(errors='replace')[-2000:]}; see {self.log_path}")
            seen.append(line)
            if READY in line.decode(errors="replace"):
                break
        self._drain = asyncio.create_task(self._copy_output(stdout, b"".join(seen)))
        took = time.monotonic() - began
        self.starts.append({"pid": self.process.pid, "at": time.time(), "ready_seconds": round(took, 2)})
        return took

    async def _copy_output(self, stdout: asyncio.StreamReader, seen: bytes) -> None:
        with self.log_path.open("ab") as log:
            log.write(seen)
            while line := await stdout.readline():
                log.write(line)
                log.flush()

    def sample(self) -> dict[str, Any] | None:
        pid = self.pid
        found = None if pid is None else proc_sample(pid)
        return None if found is None else {"pid": pid, **found}

    async def kill(self) -> None:
        """kill -9, and wait for the kernel to reap it (its sockets and files are closed then)."""
        if self.process is None or self.process.returncode is not None:
            return
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()
        await self._stop_drain()

    async def stop(self) -> int | None:
        """SIGINT (what `edge bridge serve` stops cleanly on) and wait; SIGKILL after STOP_SECONDS."""
        if self.process is None:
            return None
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(self.process.wait(), STOP_SECONDS)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        await self._stop_drain()
        return self.process.returncode

    async def _stop_drain(self) -> None:
        if self._drain is not None:
            try:
                await asyncio.wait_for(self._drain, 5)
            except TimeoutError:
                self._drain.cancel()
            self._drain = None
