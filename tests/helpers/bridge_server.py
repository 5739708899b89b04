"""Test helper: the Wyoming server on 127.0.0.1 with the real models, in its own event-loop thread."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime

from edge.core.settings import load_settings
from edge.runtime.turn import Turn
from firmware_bridge.engine import TurnEngine
from firmware_bridge.server import WyomingServer

FIXED_NOW = datetime(2026, 11, 29, 7, 5, tzinfo=UTC)


class ServerThread:
    def __init__(self, database, **overrides) -> None:
        values = {"skills.database_path": str(database), "skills.timezone": "UTC", **overrides}
        self.settings = load_settings(environ={}, overrides=values)
        self.pipeline = Turn.load(self.settings, clock=lambda: FIXED_NOW)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="wyoming-server", daemon=True)
        self._thread.start()
        self.engine = TurnEngine(self.pipeline, workers=1, max_pending=32)
        self.server = WyomingServer(self.engine, self.settings)
        self.port = self.call(self.server.start("tcp://127.0.0.1:0"))

    def call(self, coroutine, timeout: float = 60.0):
        """Run a coroutine on the server's loop (where its state lives) and wait for it."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def inspect(self, function):
        """Read server state on its own loop."""

        async def read():
            return function()

        return self.call(read())

    def close(self) -> None:
        self.call(self.server.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.engine.close()
        self.pipeline.close()
