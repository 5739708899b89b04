"""A WyomingServer with its own bridge settings on the shared engine, on its own event-loop thread."""

from __future__ import annotations

import asyncio
import dataclasses

from helpers.cast_helpers import LoopThread

from firmware_bridge.client import WyomingClient


class BridgeUnderTest:
    def __init__(self, bridge_engine, environ: dict[str, str] | None = None, **bridge):
        from firmware_bridge.server import WyomingServer

        settings, engine = bridge_engine
        self.settings = dataclasses.replace(settings, bridge=dataclasses.replace(settings.bridge, **bridge))
        self.loop = LoopThread()
        self.server = WyomingServer(engine, self.settings, **({"environ": environ} if environ is not None else {}))
        self.port = self.loop.run(self.server.start("tcp://127.0.0.1:0"))

    def inspect(self, function):
        async def read():
            return function()

        return self.loop.run(read())

    def close(self) -> None:
        self.loop.run(self.server.close())
        self.loop.close()


async def connect(port: int, source: str = "127.0.0.1") -> WyomingClient:
    """A Wyoming client from `source` (127.0.0.2 is another loopback address: another peer)."""
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0)), 10)
    return WyomingClient(reader, writer)


async def events_until_closed(client: WyomingClient, timeout: float = 10.0) -> list:
    """Every event the server sends until it closes (or resets) the connection."""
    events = []
    try:
        while (event := await client.receive(timeout)) is not None:
            events.append(event)
    except ConnectionError:
        pass
    return events
