"""Shared pieces of the casting tests: real companions (in a thread or a process), Chromium, PNGs."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import struct
import subprocess
import sys
import threading
import time
import uuid
import zlib
from pathlib import Path

import pytest

from helpers.processes import SHUTDOWN_SECONDS, LineReader

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
LOOPBACK = "127.0.0.1"


def unique(name: str) -> str:
    """A screen name no other test run on this machine uses at the same time."""
    return f"{name} {uuid.uuid4().hex[:4]}"


def cast_deps() -> None:
    for module in ("zeroconf", "aiohttp", "markdown_it"):
        pytest.importorskip(module, reason="the casting tests need the runtime's casting dependencies: pip install -e .")


def launch_chromium(playwright):
    if not CHROMIUM.exists():
        pytest.skip("no /usr/bin/chromium: `make test` installs it (apt-get install -y chromium)")
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


def png_bytes(width: int = 96, height: int = 64) -> bytes:
    """A small deterministic RGB PNG: a blue-to-green gradient with an orange square."""
    rows = []
    for y in range(height):
        row = bytearray([0])
        for x in range(width):
            inside = width // 3 <= x < 2 * width // 3 and height // 3 <= y < 2 * height // 3
            row += bytes((250, 150, 30) if inside else (20, 80 + (150 * x) // width, 200 - (120 * y) // height))
        rows.append(bytes(row))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"".join(rows))) + chunk(b"IEND", b"")


def save_screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"cast-{name}.png"
    page.screenshot(path=str(path))
    return path


class LoopThread:
    """An asyncio loop on its own thread, for servers and clients the synchronous tests drive."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine, timeout: float = 20.0):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


class CompanionThread:
    """A real Companion (aiohttp server, optional mDNS advertisement) on a LoopThread."""

    def __init__(self, settings, advertise: bool = False):
        from edge.cast.companion import Companion

        self.loop = LoopThread()
        self.companion = Companion(settings, advertise=advertise)
        self.loop.run(self.companion.start())

    @property
    def url(self) -> str:
        return self.companion.url

    def code(self) -> str:
        return self.companion.code.current()

    def stop(self) -> None:
        self.loop.run(self.companion.stop())
        self.loop.close()


class CompanionProcess:
    """`python -m edge cast companion` on loopback, as a user would start it."""

    LINE = re.compile(r"at (http://\S+)\s+pairing code (\d+)")

    def __init__(self, state_dir: Path, name: str, room: str, *extra: str):
        self.name = name
        command = [
            sys.executable, "-m", "edge", "cast", "companion", "--interface", LOOPBACK, "--port", "0",
            "--name", name, "--room", room, "--state-dir", str(state_dir), *extra,
        ]
        environment = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=subprocess.PIPE, text=True)
        try:
            line = LineReader(self.process).wait_for(lambda text: self.LINE.search(text) is not None)
        except AssertionError as error:
            self.process.kill()
            raise RuntimeError(f"edge cast companion did not start: {error}") from error
        match = self.LINE.search(line)
        self.url, self.code = match.group(1), match.group(2)
        self.started = time.perf_counter()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(SHUTDOWN_SECONDS)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(SHUTDOWN_SECONDS)


def copy_to_docs(path: Path) -> None:
    """Keep the README's screenshots current when asked (EDGE_UPDATE_DOCS=1)."""
    if os.environ.get("EDGE_UPDATE_DOCS") == "1":
        docs = ROOT / "docs" / "screenshots"
        docs.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, docs / path.name)
