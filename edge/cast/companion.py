"""`edge cast companion`: the screen-side web app (aiohttp) that shows the cards speakers cast to it.

    companion = Companion(settings.cast)      # settings.cast: a CastSettings
    await companion.start()                   # serves http://host:port/ and advertises it
    ...
    await companion.stop()                    # goodbye on mDNS, pages closed

Routes and messages are in edge.cast.protocol. Every response carries a strict
Content-Security-Policy (scripts and styles only from the companion itself, images only from
itself or `data:`, no frames, no plugins), so even a card that slipped past the sanitiser and
the page's DOM building could not run a script or load a remote resource.
"""

from __future__ import annotations

import asyncio
import importlib.resources
import ipaddress
import json
import logging
import socket
from collections.abc import Callable
from typing import Any

from edge.cast.card import CardLimits, CardRejected, CardTooLarge
from edge.cast.hub import CardHub
from edge.cast.pairing import PairedSpeakers, PairingCode
from edge.cast.protocol import AUTH_SCHEME, PROTOCOL_VERSION, ProtocolError, error_message, parse_message
from edge.core.events import Card, EventDecodeError, decode_event
from edge.core.settings import CastSettings

logger = logging.getLogger(__name__)

STATIC_FILES = {"/": ("index.html", "text/html"), "/app.js": ("app.js", "text/javascript"), "/app.css": ("app.css", "text/css")}
SPEAKER_MESSAGES = frozenset({"card", "ping"})
PAGE_MESSAGE_BYTES = 64 * 1024
MAX_PAGES = 32
FAILED_PAIRING_DELAY_SECONDS = 0.3  # slows guessing down on top of the code rotation
CODE_REFRESH_SECONDS = 2.0


def content_security_policy(allow_remote_images: bool) -> str:
    images = "'self' data: https:" if allow_remote_images else "'self' data:"
    return (
        f"default-src 'self'; img-src {images}; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'"
    )


def shows_pairing_code(remote: str | None, on_remote_pages: bool) -> bool:
    """Only a page on this machine shows the code, unless remote pages are allowed to."""
    if on_remote_pages:
        return True
    try:
        return remote is not None and ipaddress.ip_address(remote).is_loopback
    except ValueError:
        return False


class Companion:
    """One companion: web server, page hub, pairing, and (optionally) its mDNS advertisement."""

    def __init__(self, settings: CastSettings, advertise: bool = True, on_code: Callable[[str], None] | None = None):
        self.settings = settings
        self.name = settings.name or socket.gethostname()
        self.limits = CardLimits.from_settings(settings)
        self.paired = PairedSpeakers(settings.state_dir)
        self.code = PairingCode(settings.pairing_code_ttl_seconds)
        self.hub = CardHub(self.name, settings.room, self.limits, settings.history_size, settings.ack_timeout_seconds)
        self.advertise = advertise
        self.on_code = on_code  # told every new pairing code (the CLI prints it)
        self.port: int | None = None
        self.advertiser = None
        self._runner = None
        self._static: dict[str, bytes] = {}
        self._tasks: list[asyncio.Task] = []
        self._speaker_sockets: set[Any] = set()

    @property
    def companion_id(self) -> str:
        return self.paired.companion_id

    @property
    def url(self) -> str:
        host = self.settings.interface or "127.0.0.1"
        return f"http://{host}:{self.port}/"

    async def start(self) -> None:
        try:
            from aiohttp import web
        except ImportError as error:
            raise ImportError("the companion needs aiohttp (a runtime dependency): pip install -e .") from error
        web_files = importlib.resources.files("edge.cast") / "web"
        self._static = {route: (web_files / name).read_bytes() for route, (name, _) in STATIC_FILES.items()}
        app = web.Application(client_max_size=self.limits.max_message_bytes, middlewares=[self._security_headers()])
        app.router.add_get("/", self._static_file)
        app.router.add_get("/app.js", self._static_file)
        app.router.add_get("/app.css", self._static_file)
        app.router.add_get("/ws", self._page_socket)
        app.router.add_get("/api/health", self._health)
        app.router.add_post("/api/pair", self._pair)
        app.router.add_post("/api/cards", self._post_card)
        app.router.add_get("/api/ws", self._speaker_socket)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.settings.interface or None, self.settings.port)
        try:
            await site.start()
        except OSError as error:
            await self._runner.cleanup()
            raise OSError(
                f"cannot listen on {self.settings.interface or 'all interfaces'} port {self.settings.port}: "
                f"{error.strerror}; choose another with --port (0 picks a free one)"
            ) from error
        self.port = self._runner.addresses[0][1]
        await self.hub.set_pairing_code(self.code.current())  # the first code is in the start-up line
        self._tasks.append(asyncio.create_task(self._refresh_code()))
        if self.advertise:
            from edge.cast.advertise import Advertiser

            self.advertiser = Advertiser(
                self.settings.interface, self.name, self.settings.room, self.settings.resolution,
                self.companion_id, self.port,
            )
            await self.advertiser.start()
        logger.info("companion %r at %s, pairing code %s", self.name, self.url, self.code.current())

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self.advertiser is not None:
            await self.advertiser.stop()
        await self.hub.close()
        for speaker_socket in list(self._speaker_sockets):
            await speaker_socket.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def show(self, card: Card) -> dict[str, Any]:
        """Show a card without HTTP (the speaker's Chromecast relay uses this)."""
        return await self.hub.show(card)

    async def _refresh_code(self) -> None:
        while True:
            await asyncio.sleep(CODE_REFRESH_SECONDS)
            await self._publish_code()

    async def _publish_code(self, paired: str | None = None) -> None:
        code = self.code.current()
        if code != self.hub.pairing_code and self.on_code is not None:
            self.on_code(code)
        await self.hub.set_pairing_code(code, paired)

    # -- HTTP -----------------------------------------------------------------------------------

    def _security_headers(self):
        from aiohttp import web

        @web.middleware
        async def middleware(request, handler):
            try:
                response = await handler(request)
            except web.HTTPException as error:
                response = error
            response.headers["Content-Security-Policy"] = content_security_policy(self.settings.allow_remote_images)
            response.headers["X-Content-Type-Options"] = "nosniff"
            response.headers["Referrer-Policy"] = "no-referrer"
            response.headers["X-Frame-Options"] = "DENY"
            response.headers["Cache-Control"] = "no-store"
            if isinstance(response, web.HTTPException):
                raise response
            return response

        return middleware

    async def _static_file(self, request):
        from aiohttp import web

        name, content_type = STATIC_FILES[request.path]
        return web.Response(body=self._static[request.path], content_type=content_type, charset="utf-8")

    async def _health(self, request):
        from aiohttp import web

        return web.json_response({
            "id": self.companion_id, "name": self.name, "room": self.settings.room,
            "protocol": PROTOCOL_VERSION, "viewers": self.hub.viewers,
        })

    async def _pair(self, request):
        from aiohttp import web

        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict) or not all(isinstance(body.get(key), str) for key in ("code", "speaker_id")):
            raise _json_error(web.HTTPBadRequest, "bad-request", 'send {"code": "123456", "speaker_id": "...", "speaker_name": "..."}')
        speaker_name = str(body.get("speaker_name") or "speaker")[:80]
        if not self.code.check(body["code"]):
            await asyncio.sleep(FAILED_PAIRING_DELAY_SECONDS)
            await self._publish_code()
            raise _json_error(web.HTTPForbidden, "bad-code", "wrong pairing code: read the code shown on the screen and try again")
        token = self.paired.add(body["speaker_id"][:80], speaker_name)
        await self._publish_code(paired=speaker_name)
        logger.info("paired with speaker %r", speaker_name)
        return web.json_response({"token": token, "id": self.companion_id, "name": self.name, "room": self.settings.room})

    def _authorize(self, request) -> str:
        """The paired speaker's name; 401 without a token, 403 with one the companion does not know."""
        from aiohttp import web

        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme != AUTH_SCHEME or not token.strip():
            raise _json_error(
                web.HTTPUnauthorized, "not-paired", "pair this speaker first (edge cast pair NAME CODE)",
                headers={"WWW-Authenticate": f'{AUTH_SCHEME} realm="edge-companion"'},
            )
        speaker = self.paired.speaker_for(token.strip())
        if speaker is None:
            raise _json_error(web.HTTPForbidden, "unknown-token", "this speaker is not paired with this screen: pair it again")
        return speaker

    async def _post_card(self, request):
        from aiohttp import web

        self._authorize(request)
        try:
            card = _card_from(await request.text())
            ack = await self.hub.show(card)
        except CardTooLarge as error:
            raise _json_error(web.HTTPRequestEntityTooLarge, "too-large", str(error), max_size=0, actual_size=0) from error
        except (CardRejected, EventDecodeError) as error:
            raise _json_error(web.HTTPBadRequest, "bad-card", str(error)) from error
        return web.json_response(ack)

    # -- WebSockets -----------------------------------------------------------------------------

    async def _page_socket(self, request):
        from aiohttp import web

        if self.hub.viewers >= MAX_PAGES:
            raise _json_error(web.HTTPServiceUnavailable, "too-many-pages", f"at most {MAX_PAGES} pages may be open")
        socket_ = web.WebSocketResponse(max_msg_size=PAGE_MESSAGE_BYTES, heartbeat=10.0)
        await socket_.prepare(request)
        await self.hub.serve_page(socket_, shows_pairing_code(request.remote, self.settings.pairing_code_on_remote_pages))
        return socket_

    async def _speaker_socket(self, request):
        from aiohttp import WSMsgType, web

        speaker = self._authorize(request)
        socket_ = web.WebSocketResponse(max_msg_size=self.limits.max_message_bytes, heartbeat=5.0)
        await socket_.prepare(request)
        logger.info("speaker %r connected", speaker)
        self._speaker_sockets.add(socket_)
        try:
            async for frame in socket_:
                if frame.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    await socket_.send_json(await self._speaker_message(frame.data))
        finally:
            self._speaker_sockets.discard(socket_)
        return socket_

    async def _speaker_message(self, raw: Any) -> dict[str, Any]:
        message_id = None
        try:
            message = parse_message(raw, SPEAKER_MESSAGES)
            message_id = message.get("id")
            if message["type"] == "ping":
                return {"type": "pong", "id": message_id}
            card = message.get("card")
            if not isinstance(card, dict):
                raise ProtocolError("a card message carries 'card': the card's fields as an object", message_id=message_id)
            ack = await self.hub.show(_card_from(json.dumps({"type": "card", "data": card})))
            return {**ack, "id": message_id}
        except ProtocolError as error:
            return error_message(str(error), error.code, error.message_id)
        except CardTooLarge as error:
            return error_message(str(error), "too-large", message_id)
        except (CardRejected, EventDecodeError) as error:
            return error_message(str(error), "bad-card", message_id)


def _card_from(text: str) -> Card:
    event = decode_event(text)
    if not isinstance(event, Card):
        raise EventDecodeError(f"expected a card event, got {event.type!r}")
    return event


def _json_error(status, code: str, text: str, **kwargs):
    return status(text=json.dumps({"error": code, "text": text}), content_type="application/json", **kwargs)
