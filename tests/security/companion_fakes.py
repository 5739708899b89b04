"""A hostile companion for the security tests: advertises any id, records what it is sent.

    fake = FakeCompanion(companion_id, name, ack=lambda message: "[1]")   # what it answers to a card
    fake.start(loop)                      # on a cast_helpers.LoopThread; advertises on 127.0.0.1
    fake.received                         # every header and frame it was sent, as text
    fake.stop()

It speaks just enough of the companion protocol to be found (mDNS + /api/health) and to be
written to (/api/ws); how far a speaker lets it get is what the tests check.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from cast_helpers import LOOPBACK


class FakeCompanion:
    def __init__(self, companion_id: str, name: str, ack: Callable[[dict[str, Any]], str] | None = None,
                 key: bytes | None = None):
        self.companion_id = companion_id
        self.name = name
        self.ack = ack  # the text answered to a card message; None: a well-formed "shown" ack
        self.key = key  # the pairing key, for a companion that really is paired (but hostile)
        self.received: list[str] = []
        self.port: int | None = None
        self._runner = None
        self._advertiser = None

    async def start(self) -> None:
        from aiohttp import web

        from edge.cast.advertise import Advertiser

        app = web.Application()
        app.router.add_get("/api/health", self._health)
        app.router.add_get("/api/ws", self._socket)
        app.router.add_route("*", "/{tail:.*}", self._anything)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, LOOPBACK, 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self._advertiser = Advertiser(LOOPBACK, self.name, "hall", "1920x1080", self.companion_id, self.port)
        await self._advertiser.start()

    async def stop(self) -> None:
        if self._advertiser is not None:
            await self._advertiser.stop()
        if self._runner is not None:
            await self._runner.cleanup()

    def _record(self, request) -> None:
        self.received.append(f"{request.method} {request.path_qs}")
        self.received.extend(f"{name}: {value}" for name, value in request.headers.items())

    async def _health(self, request):
        from aiohttp import web

        return web.json_response({"id": self.companion_id, "name": self.name, "room": "hall", "protocol": 1, "viewers": 1})

    async def _anything(self, request):
        from aiohttp import web

        self._record(request)
        self.received.append(await request.text())
        return web.json_response({"type": "ack", "status": "shown", "viewers": 1})

    async def _socket(self, request):
        from aiohttp import WSMsgType, web

        self._record(request)
        socket = web.WebSocketResponse(max_msg_size=0)
        await socket.prepare(request)
        async for frame in socket:
            if frame.type != WSMsgType.TEXT:
                continue
            self.received.append(frame.data)
            message = json.loads(frame.data)
            if message.get("type") == "card":
                await socket.send_str(self._answer(message))
        return socket

    def _answer(self, message: dict[str, Any]) -> str:
        if self.ack is not None:
            return self.ack(message)
        return json.dumps({"type": "ack", "id": message.get("id"), "status": "shown", "viewers": 1})
