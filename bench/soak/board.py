"""A UART board on a pseudo-terminal: the runtime opens `device` (a symlink, as udev gives) as its
serial port; the board holds the other end, presses its talk button, streams a request, and plays
the reply. It can be unplugged (its end closed, the device gone) and plugged in again.

    board = SoakBoard(folder, script, record, load_until)
    board.plug()                   # before the runtime starts: `edge bridge serve --uart board.device`
    await board.unplug(); board.plug()

Alerts reach a board as audio without words: audio that does not follow the host's "thinking"
light is a ring (recorded with no words; see record.alert_accounting).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import time
import tty
from collections.abc import Callable
from pathlib import Path

from bench.soak.record import Record, Ring, TurnOutcome
from bench.soak.requests import Clip
from firmware_bridge.uart.frames import MAX_PAYLOAD_BYTES
from firmware_bridge.uart.link import UartLink
from firmware_bridge.uart.messages import Audio, AudioStart, AudioStop, Button, ButtonAction, LedRing, LedState
from firmware_bridge.uart.transport import LinkDownError

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000  # hertz, the board's microphone
DEAD_LINE_POLL_SECONDS = 0.1  # how often a line nobody holds (the runtime is down) is looked at again
REPLY_SECONDS = 180.0


class PtyMasterTransport:
    """The board's end of a pseudo-terminal (firmware_bridge.uart.transport.Transport). While nobody
    holds the other end (the runtime was killed, or has not opened it yet) reads fail with EIO: the
    line is dead, so it is looked at again a moment later, and what is written meanwhile is lost,
    as on a wire with nobody at the other end."""

    def __init__(self, master: int) -> None:
        self.master = master
        self._loop: asyncio.AbstractEventLoop | None = None
        self._retry: asyncio.TimerHandle | None = None
        self._on_bytes: Callable[[bytes], None] | None = None

    def start(self, on_bytes: Callable[[bytes], None], on_lost: Callable[[Exception], None] | None = None) -> None:
        self._loop, self._on_bytes = asyncio.get_running_loop(), on_bytes
        self._loop.add_reader(self.master, self._readable)

    def _readable(self) -> None:
        try:
            data = os.read(self.master, 65536)
        except BlockingIOError:
            return
        except OSError as error:
            if error.errno != errno.EIO:
                raise
            self._loop.remove_reader(self.master)
            self._retry = self._loop.call_later(DEAD_LINE_POLL_SECONDS, self._loop.add_reader, self.master, self._readable)
            return
        if data and self._on_bytes is not None:
            self._on_bytes(data)

    async def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self.master, view):]
            except BlockingIOError:
                await asyncio.sleep(0.002)
            except OSError as error:
                if error.errno != errno.EIO:
                    raise LinkDownError(f"board write failed: {error}") from error
                return  # nobody on the line

    def close(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
        if self._loop is not None:
            self._loop.remove_reader(self.master)


class SoakBoard:
    def __init__(self, folder: Path, script: list[Clip], record: Record, load_until: float) -> None:
        self.device = folder / "ttyUSB0"
        self.script = script
        self.record = record
        self.load_until = load_until
        self.plugs = 0
        self._master: int | None = None
        self._task: asyncio.Task | None = None
        self._next = 0

    def plug(self) -> None:
        """A fresh pseudo-terminal behind `device`, and the board's firmware starting on it."""
        master, slave = os.openpty()
        tty.setraw(slave)
        path = os.ttyname(slave)
        os.close(slave)
        os.set_blocking(master, False)
        self._master = master
        self.device.unlink(missing_ok=True)
        self.device.symlink_to(path)
        self.plugs += 1
        self._task = asyncio.create_task(self._firmware(master), name="uart board")

    async def unplug(self) -> None:
        """Pull the cable: the board stops, its end closes (the runtime's reads fail), the device goes."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._master is not None:
            os.close(self._master)
            self._master = None
        self.device.unlink(missing_ok=True)

    async def _firmware(self, master: int) -> None:
        link = UartLink(PtyMasterTransport(master), name="board")
        heard: asyncio.Queue = asyncio.Queue()
        await link.open()
        reader = asyncio.create_task(self._read(link, heard))
        try:
            while True:
                await link.wait_up()
                if time.monotonic() >= self.load_until:
                    await asyncio.Event().wait()  # only listens (for alerts) from now on
                await self._turn(link, heard, self.script[self._next % len(self.script)])
                self._next += 1
                await asyncio.sleep(2.0)
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
            await link.close()

    async def _read(self, link: UartLink, heard: asyncio.Queue) -> None:
        """Replies follow the "thinking" light; audio that does not is an alert (a ring)."""
        thinking = in_alert = False
        while True:
            message = await link.receive()
            if isinstance(message, LedRing):
                if message.state in (LedState.THINKING, LedState.IDLE, LedState.ERROR):
                    thinking = message.state is LedState.THINKING
                heard.put_nowait(message)
            elif isinstance(message, AudioStart) and not thinking:
                in_alert = True
                self.record.rings.append(Ring("", "", time.time()))
            elif in_alert:
                in_alert = not isinstance(message, AudioStop)
            else:
                if isinstance(message, AudioStop):
                    thinking = False
                heard.put_nowait(message)

    async def _turn(self, link: UartLink, heard: asyncio.Queue, clip: Clip) -> None:
        while not heard.empty():
            heard.get_nowait()
        host = link.peer.session if link.peer is not None else None
        started, incarnation = time.time(), self.record.incarnation
        latency = error = None
        try:
            await link.send_reliably(Button(0, ButtonAction.PRESSED))
            await link.send(AudioStart(SAMPLE_RATE, 2, 1))
            began = time.perf_counter()
            for offset in range(0, len(clip.pcm), MAX_PAYLOAD_BYTES):
                await link.send(Audio(clip.pcm[offset : offset + MAX_PAYLOAD_BYTES]))
                due = began + (offset + MAX_PAYLOAD_BYTES) / 2 / SAMPLE_RATE
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
            await link.send_reliably(AudioStop())
            latency, error = await self._reply(link, heard, host, time.perf_counter())
        except LinkDownError:
            error = "link-restarted"
        self.record.turns.append(TurnOutcome("uart-board", clip.kind, clip.text, started, incarnation,
                                             answered=latency is not None and error is None, latency_ms=latency,
                                             error=error))

    async def _reply(self, link: UartLink, heard: asyncio.Queue, host: int | None,
                     stopped_at: float) -> tuple[float | None, str | None]:
        latency = None
        deadline = time.monotonic() + REPLY_SECONDS
        while time.monotonic() < deadline:
            if (link.peer.session if link.peer is not None else None) != host:
                return latency, "host-restarted"
            try:
                message = await asyncio.wait_for(heard.get(), 1.0)
            except TimeoutError:
                continue
            if isinstance(message, LedRing) and message.state is LedState.ERROR:
                return latency, "error-light"
            if isinstance(message, Audio) and latency is None:
                latency = round((time.perf_counter() - stopped_at) * 1000, 1)
            if isinstance(message, AudioStop):
                return latency, None
        return latency, "timeout"
