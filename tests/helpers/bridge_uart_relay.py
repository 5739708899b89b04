"""Test helpers for the UART link: pseudo-terminal pairs and a relay that corrupts and drops frames."""

from __future__ import annotations

import asyncio
import os
import random
import tty
from dataclasses import dataclass


@dataclass
class Pty:
    master: int
    path: str  # the slave device, opened by pyserial

    def close(self) -> None:
        os.close(self.master)


def open_pty() -> Pty:
    master, slave = os.openpty()
    tty.setraw(slave)  # no echo, no line editing before pyserial opens it
    path = os.ttyname(slave)
    os.close(slave)
    os.set_blocking(master, False)
    return Pty(master, path)


@dataclass
class Faults:
    corrupt_rate: float = 0.0  # chance that a frame gets one byte flipped
    drop_rate: float = 0.0  # chance that a frame vanishes
    seed: int = 7
    corrupted: int = 0
    dropped: int = 0
    frames: int = 0


class Relay:
    """Copies frames between two pty masters (split at 0x00), corrupting and dropping some."""

    def __init__(self, left: Pty, right: Pty, faults: Faults) -> None:
        self._ends = (left, right)
        self.faults = faults
        self._random = random.Random(faults.seed)
        self._pending = {left.master: bytearray(), right.master: bytearray()}

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        left, right = self._ends
        loop.add_reader(left.master, self._forward, left.master, right.master)
        loop.add_reader(right.master, self._forward, right.master, left.master)

    def stop(self) -> None:
        loop = asyncio.get_running_loop()
        for end in self._ends:
            loop.remove_reader(end.master)

    def _forward(self, source: int, target: int) -> None:
        try:
            data = os.read(source, 65536)
        except (BlockingIOError, OSError):
            return
        buffer = self._pending[source]
        buffer += data
        while (zero := buffer.find(0)) >= 0:
            frame = bytes(buffer[: zero + 1])
            del buffer[: zero + 1]
            self._send(frame, target)

    def _send(self, frame: bytes, target: int) -> None:
        faults = self.faults
        faults.frames += 1
        if len(frame) > 1 and self._random.random() < faults.drop_rate:
            faults.dropped += 1
            return
        if len(frame) > 1 and self._random.random() < faults.corrupt_rate:
            faults.corrupted += 1
            data = bytearray(frame)
            position = self._random.randrange(len(data) - 1)  # never the delimiter
            data[position] ^= 1 << self._random.randrange(8)
            frame = bytes(data)
        view = memoryview(frame)
        while view:
            try:
                view = view[os.write(target, view):]
            except BlockingIOError:
                import time

                time.sleep(0.001)
