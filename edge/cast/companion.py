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
import contextlib
import importlib.resources
import ipaddress
import json
import logging
import socket
from collections.abc import Callable
from typing import Any

from edge.cast.card import CardLimits, CardRejected, CardTooLarge
from edge.cast.hub import CardHub
from edge.cast.pages import host_allowed, origin_allowed, own_host_names, page_belongs
from edge.cast.pairing import PairedSpeakers, PairingCode, PairingError, parse_pair_request
from edge.cast.proof import ProofError, companion_handshake, valid_nonce, valid_speaker_id
from edge.cast.protocol import PROTOCOL_VERSION, ProtocolError, error_message, parse_message
from edge.cast.throttle import PairingThrottle
from edge.core.events import Card, EventDecodeError, decode_event
from edge.core.settings import CastSettings

logger = logging.getLogger(__name__)

STATIC_FILES = {"/": ("index.html", "text/html"), "/app.js": ("app.js", "text/javascript"), "/app.css": ("app.css", "text/css")}
SPEAKER_MESSAGES = frozenset({"card", "ping"})
PAGE_MESSAGE_BYTES = 64 * 1024
MAX_PAGES = 32
MAX_SPEAKER_SOCKETS = 16
LOCKED_TEXT = "this screen needs the link `edge cast companion` printed (with #key=...) to show cards"
HANDSHAKE_SECONDS = 5.0  # a speaker socket that has not proved itself by then is closed
FAILED_PAIRING_DELAY_SECONDS = 0.3  # slows guessing down on top of the code rotation and the pause
PAIR_REQUEST_BYTES = 4096
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

    def __init__(self, settings: CastSettings, advertise: bool = True, on_code: Callable[[str], None] | None = None,
                 view_key: str | None = None, speakers: bool = True):
        self.settings = settings
        self.name = settings.name or socket.gethostname()
        self.limits = CardLimits.from_settings(settings)
        self.paired = PairedSpeakers(settings.state_dir)
        self.code = PairingCode(settings.pairing_code_ttl_seconds)
        self.throttle = PairingThrottle(settings.pairing_max_failures, settings.pairing_cooldown_seconds)
        self._pairing_lock = asyncio.Lock()
        self.hub = CardHub(self.name, settings.room, self.limits, settings.history_size, settings.ack_timeout_seconds)
        self.advertise = advertise
        self.on_code = on_code  # told every new pairing code (the CLI prints it)
        self.port: int | None = None
        self.advertiser = None
        self._runner = None
        self._static: dict[str, bytes] = {}
        self._tasks: list[asyncio.Task] = []
        self._speaker_sockets: set[Any] = set()
        self.view_key = view_key or self.paired.view_key  # a page not on this machine shows it to get cards
        self.speakers = speakers  # False: no pairing and no speaker socket (the speaker's own Chromecast relay)
        self._host_names: frozenset[str] = own_host_names(settings.allowed_host_names)

    @property
    def companion_id(self) -> str:
        return self.paired.companion_id

    @property
    def url(self) -> str:
        host = self.settings.interface or "127.0.0.1"
        return f"http://{host}:{self.port}/"

    def screen_links(self) -> list[str]:
        """The links other machines' screens open: an address of this machine, and the view key."""
        from edge.cast.advertise import advertised_addresses

        return [f"http://{address}:{self.port}/#key={self.view_key}" for address in advertised_addresses(self.settings.interface)]

    async def start(self) -> None:
        try:
            from aiohttp import web
        except ImportError as error:
            raise ImportError("the companion needs aiohttp (a runtime dependency): pip install -e .") from error
        web_files = importlib.resources.files("edge.cast") / "web"
        self._static = {route: (web_files / name).read_bytes() for route, (name, _) in STATIC_FILES.items()}
        app = web.Application(client_max_size=self.limits.max_message_bytes,
                              middlewares=[self._security_headers(), self._known_hosts_only()])
        app.router.add_get("/", self._static_file)
        app.router.add_get("/app.js", self._static_file)
        app.router.add_get("/app.css", self._static_file)
        app.router.add_get("/ws", self._page_socket)
        app.router.add_get("/api/health", self._health)
        if self.speakers:
            app.router.add_post("/api/pair", self._pair)
            app.router.add_post("/api/cards", self._post_card)
            app.router.add_get("/api/ws", self._speaker_socket)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0,
                                     keepalive_timeout=self.settings.http_idle_timeout_seconds)
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
            self._host_names = own_host_names(self.settings.allowed_host_names, [self.advertiser.host_name])
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

    def _known_hosts_only(self):
        """421 for a request that reached this companion through a name it does not know (DNS rebinding)."""
        from aiohttp import web

        @web.middleware
        async def middleware(request, handler):
            if not host_allowed(request.headers.get("Host"), self._host_names):
                raise _json_error(
                    web.HTTPMisdirectedRequest, "unknown-host",
                    "this companion does not answer to that host name: open it by its IP address, or add the name "
                    "to cast.allowed_host_names",
                )
            return await handler(request)

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

        if request.content_type != "application/json":
            raise _json_error(web.HTTPUnsupportedMediaType, "bad-request", "send the pairing request as application/json")
        async with self._pairing_lock:  # one attempt at a time, so parallel guesses wait their turn
            wait = self.throttle.paused_for()
            if wait > 0:
                raise _json_error(
                    web.HTTPTooManyRequests, "paused", f"too many wrong pairing codes: pairing is paused for {wait:.0f} s; "
                    "then read the code shown on the screen and try again", headers={"Retry-After": str(int(wait) + 1)},
                )
            raw = await request.content.read(PAIR_REQUEST_BYTES + 1)
            try:
                if len(raw) > PAIR_REQUEST_BYTES:
                    raise PairingError(f"a pairing request is at most {PAIR_REQUEST_BYTES} bytes")
                pair = parse_pair_request(raw)
            except PairingError as error:
                raise _json_error(web.HTTPBadRequest, "bad-request", str(error)) from error
            if not self.code.check(pair.code):
                self.throttle.failed()
                await asyncio.sleep(FAILED_PAIRING_DELAY_SECONDS)
                await self._publish_code()
                raise _json_error(web.HTTPForbidden, "bad-code", "wrong pairing code: read the code shown on the screen and try again")
            self.throttle.succeeded()
        token = self.paired.add(pair.speaker_id, pair.speaker_name)
        await self._publish_code(paired=pair.speaker_name)
        logger.info("paired with speaker %r", pair.speaker_name)
        return web.json_response({"token": token, "id": self.companion_id, "name": self.name, "room": self.settings.room})

    async def _post_card(self, request):
        from aiohttp import web

        raise _json_error(
            web.HTTPGone, "use-the-speaker-socket",
            "cards no longer go by HTTP POST (it sent the pairing token over the network): "
            "cast with `edge cast` or a CardCaster, which use /api/ws with the pairing proof",
        )

    # -- WebSockets -----------------------------------------------------------------------------

    async def _page_socket(self, request):
        from aiohttp import web

        if not origin_allowed(request.headers.get("Origin"), request.headers.get("Host")):
            raise _json_error(web.HTTPForbidden, "foreign-origin", "only the companion's own page may open its socket")
        belongs = page_belongs(request.remote, request.query.get("key"), self.view_key, self.settings.trust_loopback_pages)
        if belongs and self.hub.viewers >= MAX_PAGES:
            raise _json_error(web.HTTPServiceUnavailable, "too-many-pages", f"at most {MAX_PAGES} pages may be open")
        socket_ = web.WebSocketResponse(max_msg_size=PAGE_MESSAGE_BYTES, heartbeat=10.0)
        await socket_.prepare(request)
        if not belongs:  # told why and closed at once: it holds no slot and sees nothing
            await socket_.send_json({"type": "locked", "name": self.name, "text": LOCKED_TEXT})
            await socket_.close()
            return socket_
        await self.hub.serve_page(socket_, shows_pairing_code(request.remote, self.settings.pairing_code_on_remote_pages))
        return socket_

    async def _speaker_socket(self, request):
        """A speaker's socket: the pairing proof first (edge.cast.proof), then sealed card messages."""
        from aiohttp import WSMsgType, web

        speaker_id, nonce = request.query.get("speaker", ""), request.query.get("nonce", "")
        if not valid_speaker_id(speaker_id) or not valid_nonce(nonce):
            raise _json_error(web.HTTPBadRequest, "bad-request", "open /api/ws?speaker=SPEAKER_ID&nonce=HEX (see edge.cast.proof)")
        key = self.paired.key_for(speaker_id)
        if key is None:
            raise _json_error(web.HTTPForbidden, "not-paired", "this speaker is not paired with this screen: edge cast pair NAME CODE")
        if len(self._speaker_sockets) >= MAX_SPEAKER_SOCKETS:
            raise _json_error(web.HTTPServiceUnavailable, "too-many-speakers", f"at most {MAX_SPEAKER_SOCKETS} speakers at once")
        socket_ = web.WebSocketResponse(max_msg_size=2 * self.limits.max_message_bytes, heartbeat=10.0)
        await socket_.prepare(request)
        self._speaker_sockets.add(socket_)
        try:
            try:
                channel = await asyncio.wait_for(
                    companion_handshake(socket_, key, self.companion_id, speaker_id, nonce), HANDSHAKE_SECONDS)
            except (ProofError, TimeoutError) as error:
                logger.warning("a speaker socket from %s failed the pairing proof: %s", request.remote, error or "too slow")
                if not socket_.closed:
                    with contextlib.suppress(ConnectionError):
                        await socket_.send_json(error_message(f"pairing proof failed: {error or 'too slow'}", "proof-failed"))
                return socket_
            speaker = self.paired.name_of(speaker_id)
            logger.info("speaker %r connected", speaker)
            async for frame in socket_:
                if frame.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    continue
                try:
                    body = channel.open(frame.data)
                except ProofError as error:
                    logger.warning("closing speaker %r's socket: %s", speaker, error)
                    break
                if self.paired.key_for(speaker_id) != key:
                    logger.info("speaker %r was unpaired: closing its socket", speaker)
                    break
                await socket_.send_str(channel.seal(json.dumps(await self._speaker_message(body))))
        finally:
            self._speaker_sockets.discard(socket_)
            await socket_.close()
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
