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
import secrets
from collections.abc import Callable
from typing import Any

from helpers.cast_helpers import LOOPBACK


class FakeCompanion:
    def __init__(self, companion_id: str, name: str, ack: Callable[[dict[str, Any]], str] | None = None,
                 key: bytes | None = None):
        self.companion_id = companion_id
        self.name = name
        self.ack = ack  # the text answered to a card message; None: a well-formed "shown" ack
        self.key = key  # the pairing key, for a companion that really is paired (but hostile)
        self.received: list[str] = []
        self.port: int | None = None
        self.socket_handler = None  # replaces the speaker socket's handler (a relay)
        self.http_answer: bytes | None = None  # the body of every other HTTP answer (e.g. to a pairing)
        self._runner = None
        self._advertiser = None

    async def start(self) -> None:
        from aiohttp import web

        from edge.cast.advertise import Advertiser

        app = web.Application()
        app.router.add_get("/api/health", self._health)
        app.router.add_get("/api/ws", self.socket_handler or self._socket)
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

        return web.json_response({"id": self.companion_id, "name": self.name, "room": "hall", "protocol": 2, "viewers": 1})

    async def _anything(self, request):
        from aiohttp import web

        self._record(request)
        self.received.append(await request.text())
        if self.http_answer is not None:
            return web.Response(body=self.http_answer, content_type="application/json")
        return web.json_response({"type": "ack", "status": "shown", "viewers": 1})

    async def _socket(self, request):
        from aiohttp import WSMsgType, web

        from edge.cast.proof import ProofError, companion_handshake

        self._record(request)
        socket = web.WebSocketResponse(max_msg_size=0)
        await socket.prepare(request)
        channel = None
        if self.key is not None:  # paired, so it can prove itself: a real companion gone bad
            try:
                channel = await companion_handshake(socket, self.key, self.companion_id, request.query["speaker"],
                                                    request.query["nonce"])
            except ProofError:
                return socket
        else:  # what a protocol-2 companion says first; without the pairing key its proof can only be made up
            await socket.send_str(json.dumps({"type": "challenge", "id": self.companion_id,
                                              "nonce": secrets.token_hex(16), "proof": secrets.token_hex(32)}))
        async for frame in socket:
            if frame.type != WSMsgType.TEXT:
                continue
            self.received.append(frame.data)
            message = json.loads(channel.open(frame.data) if channel else frame.data)
            if message.get("type") == "card":
                answer = self._answer(message)
                await socket.send_str(channel.seal(answer) if channel else answer)
        return socket

    def _answer(self, message: dict[str, Any]) -> str:
        if self.ack is not None:
            return self.ack(message)
        return json.dumps({"type": "ack", "id": message.get("id"), "status": "shown", "viewers": 1})


class RelayingImpostor:
    """Sits between the speaker and the real companion (it advertises the companion's id) and
    relays the pairing proof both ways, then tampers: "inject" adds a card of its own, "alter"
    changes the speaker's card, "replay" sends the speaker's card a second time."""

    def __init__(self, companion_id: str, name: str, real_url: str, tamper: str):
        self.companion = FakeCompanion(companion_id, name)
        self.real_url = real_url.rstrip("/")
        self.tamper = tamper
        self.tampered = 0

    async def start(self) -> None:
        self.companion.socket_handler = self._relay
        await self.companion.start()

    async def stop(self) -> None:
        await self.companion.stop()

    @property
    def port(self) -> int | None:
        return self.companion.port

    async def _relay(self, request):
        import asyncio

        import aiohttp
        from aiohttp import web

        speaker = web.WebSocketResponse(max_msg_size=0)
        await speaker.prepare(request)
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(self.real_url + request.path_qs, max_msg_size=0) as real:
                async def to_speaker():
                    async for frame in real:
                        if frame.type == aiohttp.WSMsgType.TEXT:
                            await speaker.send_str(frame.data)
                    await speaker.close()

                async def to_real():
                    async for frame in speaker:
                        if frame.type == aiohttp.WSMsgType.TEXT:
                            for data in self._tampered(frame.data):
                                await real.send_str(data)
                    await real.close()

                await asyncio.gather(to_speaker(), to_real(), return_exceptions=True)
        return speaker

    def _tampered(self, data: str) -> list[str]:
        message = json.loads(data)
        if not isinstance(message.get("body"), str) or '"card"' not in message["body"]:
            return [data]  # the handshake and anything that is not a card pass unchanged
        self.tampered += 1
        if self.tamper == "alter":
            message["body"] = message["body"].replace("Dinner at eight", "Send money to the relay")
            return [json.dumps(message)]
        if self.tamper == "replay":
            return [data, data]
        forged_card = {"type": "card", "id": "forged", "card": {"title": "Injected by the relay"}}
        forged = {"seq": message["seq"] + 1, "body": json.dumps(forged_card), "mac": secrets.token_hex(32)}
        return [data, json.dumps(forged)]


async def advertise_chromecast(name: str, port: int):
    """A `_googlecast._tcp` record on loopback, as a Chromecast announces itself (nothing answers at `port`);
    returns the AsyncZeroconf to close."""
    import socket
    import uuid

    from zeroconf import IPVersion
    from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

    device_id = uuid.uuid4().hex
    record = AsyncServiceInfo(
        "_googlecast._tcp.local.", f"Chromecast-{device_id}._googlecast._tcp.local.",
        addresses=[socket.inet_aton(LOOPBACK)], port=port,
        properties={"id": device_id, "fn": name, "md": "Chromecast", "ve": "05", "ca": "4101"},
        server=f"cast-{device_id[:8]}.local.",
    )
    zeroconf = AsyncZeroconf(interfaces=[LOOPBACK], ip_version=IPVersion.V4Only)
    await zeroconf.async_register_service(record, cooperating_responders=True)
    return zeroconf
