"""The companion screen: `edge cast companion` on loopback, paired with the runtime's state folder
by `edge cast pair` (the pairing flow a user follows), and a page on it that shows every card.

    screen = await CompanionScreen.start(folder, python, cwd, environ)
    await screen.pair(speaker_state_dir)     # before the runtime starts
    viewer = asyncio.create_task(screen.watch(record))   # the page: acknowledges each card it gets
    await screen.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import signal
import time
import uuid
from pathlib import Path

from bench.soak.record import Record

logger = logging.getLogger(__name__)

LINE = re.compile(r"at (http://\S+)\s+pairing code (\d+)")
STARTUP_SECONDS = 120.0


class CompanionScreen:
    def __init__(self, process: asyncio.subprocess.Process, name: str, url: str, code: str, python: str, cwd: Path,
                 environ: dict[str, str]) -> None:
        self.process, self.name, self.url, self.code = process, name, url, code
        self.python, self.cwd, self.environ = python, cwd, environ
        self.page_connections = 0

    @classmethod
    async def start(cls, folder: Path, python: str, cwd: Path, environ: dict[str, str]) -> CompanionScreen:
        name = f"Soak TV {uuid.uuid4().hex[:4]}"  # no other run on this machine advertises the same name
        process = await asyncio.create_subprocess_exec(
            python, "-m", "edge", "cast", "companion", "--interface", "127.0.0.1", "--port", "0", "--name", name,
            "--room", "soak", "--state-dir", str(folder), cwd=cwd, env=environ,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )
        seen = []
        while True:
            line = (await asyncio.wait_for(process.stdout.readline(), STARTUP_SECONDS)).decode(errors="replace")
            if not line:
                raise RuntimeError(f"edge cast companion exited before it was ready: {''.join(seen)}")
            seen.append(line)
            found = LINE.search(line)
            if found:
                break
        asyncio.create_task(_drain(process.stdout))
        return cls(process, name, found.group(1), found.group(2), python, cwd, environ)

    async def pair(self, speaker_state_dir: Path) -> None:
        """`edge cast pair NAME CODE` as the user types it (the code read off the screen)."""
        pairing = await asyncio.create_subprocess_exec(
            self.python, "-m", "edge", "cast", "pair", self.name, self.code, "--interface", "127.0.0.1",
            "--state-dir", str(speaker_state_dir), "--wait", "30", cwd=self.cwd, env=self.environ,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(pairing.communicate(), STARTUP_SECONDS)
        if pairing.returncode != 0:
            raise RuntimeError(f"edge cast pair failed: {out.decode()}{err.decode()}")

    async def watch(self, record: Record) -> None:
        """The screen's page (on this machine, so trusted): record each card and acknowledge it as shown."""
        import aiohttp

        socket_url = self.url.replace("http://", "ws://", 1).rstrip("/") + "/ws"
        while True:
            try:
                async with aiohttp.ClientSession() as session, session.ws_connect(socket_url, heartbeat=10) as page:
                    self.page_connections += 1
                    async for frame in page:
                        if frame.type != aiohttp.WSMsgType.TEXT:
                            continue
                        message = json.loads(frame.data)
                        if message.get("type") == "card":
                            card = message["card"]
                            record.cards.append({"title": card.get("title"), "at": time.time()})
                            await page.send_json({"type": "ack", "id": card.get("id")})
            except (aiohttp.ClientError, OSError) as error:
                logger.info("page socket closed: %s", error)
            await asyncio.sleep(0.5)

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.process.wait(), 30)
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.readline():
        pass
