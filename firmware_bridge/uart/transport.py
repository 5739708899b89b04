"""Byte transports for the UART link: a serial port through pyserial, read by the event loop."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from typing import Protocol

from edge.core.errors import PeerError

logger = logging.getLogger(__name__)


class LinkDownError(PeerError, ConnectionError):
    """The port cannot be used, or the peer stopped acknowledging (unacknowledged frames were dropped)."""


def _wake(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)


class Transport(Protocol):
    def start(self, on_bytes: Callable[[bytes], None], on_lost: Callable[[Exception], None] | None = None) -> None: ...

    async def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...


class SerialTransport:
    """A serial port through pyserial, read and written without blocking the event loop."""

    def __init__(self, port: str, baud_rate: int = 921600) -> None:
        try:
            import serial
        except ImportError as error:
            raise LinkDownError("pyserial is not installed: pip install 'edge-voice[bridge]'") from error
        try:
            self._serial = serial.serial_for_url(port, baudrate=baud_rate, timeout=0, write_timeout=0)
        except (serial.SerialException, ValueError) as error:
            raise LinkDownError(f"cannot open serial port {port}: {error}") from error
        self._fd = self._serial.fileno()
        os.set_blocking(self._fd, False)
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self, on_bytes: Callable[[bytes], None], on_lost: Callable[[Exception], None] | None = None) -> None:
        """Read in the event loop: `on_bytes` with what arrives, `on_lost` once if the port fails (unplugged)."""
        self._loop = asyncio.get_running_loop()

        def readable() -> None:
            try:
                data = os.read(self._fd, 4096)
            except BlockingIOError:
                return
            except OSError as error:
                self._failed(LinkDownError(f"serial port read failed: {error.strerror or error}"), on_lost)
                return
            if data:
                on_bytes(data)
            else:  # end of file: the device is gone
                self._failed(LinkDownError("the serial port closed (unplugged?)"), on_lost)

        self._loop.add_reader(self._fd, readable)

    def _failed(self, error: LinkDownError, on_lost: Callable[[Exception], None] | None) -> None:
        logger.warning("%s", error)
        self._loop.remove_reader(self._fd)
        if on_lost is not None:
            on_lost(error)

    async def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self._fd, view):]
            except OSError as error:
                if not isinstance(error, BlockingIOError):
                    raise LinkDownError(f"serial port write failed: {error.strerror or error}") from error
                ready = asyncio.get_running_loop().create_future()
                self._loop.add_writer(self._fd, _wake, ready)
                try:
                    await ready
                finally:
                    self._loop.remove_writer(self._fd)

    def close(self) -> None:
        if self._loop is not None:
            self._loop.remove_reader(self._fd)
        self._serial.close()
