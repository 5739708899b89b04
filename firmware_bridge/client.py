"""A Wyoming client connection: typed events out, typed events in (used by the satellite simulator)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from firmware_bridge.wyoming.events import WyomingEvent, decode_event
from firmware_bridge.wyoming.framing import Frame, FrameLimits, FrameReader, encode_frame


class WyomingClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, limits: FrameLimits | None = None) -> None:
        self._frames = FrameReader(reader, limits)
        self._writer = writer

    @classmethod
    async def connect(cls, host: str, port: int, timeout_seconds: float = 10.0) -> WyomingClient:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_seconds)
        return cls(reader, writer)

    async def send(self, *events: WyomingEvent) -> None:
        for event in events:
            self._writer.write(encode_frame(event.to_frame()))
        await self._writer.drain()

    async def send_all(self, events: Sequence[WyomingEvent]) -> None:
        await self.send(*events)

    async def receive(self, timeout_seconds: float | None = None) -> WyomingEvent | Frame | None:
        """The next event (a Frame for unknown types); None when the server closed the connection."""
        frame = await asyncio.wait_for(self._frames.read(), timeout_seconds)
        return None if frame is None else decode_event(frame)

    async def close(self) -> None:
        self._writer.close()
        try:
            await self._writer.wait_closed()
        except ConnectionError:
            pass

    def abort(self) -> None:
        """Drop the connection at once, as a satellite losing power would."""
        transport = self._writer.transport
        transport.abort()
