"""The companion's open pages: who is watching, the card history, and acknowledgements.

Every open page (a browser tab, a TV browser, a Chromecast) holds a WebSocket on `/ws`. A new
card is sanitised, rendered to a view model, kept in the history, and sent to every page; the
first page that reports it rendered it acknowledges the card. A page that sends garbage gets
an error reply and stays connected; a page that cannot be written to is dropped on its own.

The pairing code goes only to pages allowed to see it (by default those on the companion's own
machine, see `cast.pairing_code_on_remote_pages`): anyone on the network can open the page,
and a code they could read would prove nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections import deque
from typing import Any

from edge.cast.card import CardLimits, sanitize_card
from edge.cast.protocol import PROTOCOL_VERSION, ProtocolError, error_message, parse_message
from edge.cast.render import card_view
from edge.core.events import Card

logger = logging.getLogger(__name__)

PAGE_MESSAGES = frozenset({"ack", "ping"})
SEND_TIMEOUT_SECONDS = 2.0  # a page that takes longer to take a message is dropped


class CardHub:
    def __init__(self, name: str, room: str, limits: CardLimits, history_size: int, ack_timeout_seconds: float):
        self.name = name
        self.room = room
        self.limits = limits
        self.ack_timeout_seconds = ack_timeout_seconds
        self.history: deque[dict[str, Any]] = deque(maxlen=history_size)
        self.pairing_code = ""
        self._viewers: dict[Any, bool] = {}  # open page -> may it see the pairing code?
        self._acks: dict[str, asyncio.Future] = {}

    @property
    def viewers(self) -> int:
        return len(self._viewers)

    def hello(self, shows_code: bool) -> dict[str, Any]:
        return {
            "type": "hello", "protocol": PROTOCOL_VERSION, "name": self.name, "room": self.room,
            "code": self.pairing_code if shows_code else "", "history": list(self.history),
        }

    async def show(self, card: Card) -> dict[str, Any]:
        """Sanitise, keep and broadcast one card; raise CardRejected if it cannot be shown."""
        safe = sanitize_card(card, self.limits)
        card_id = uuid.uuid4().hex[:12]
        # Off the event loop: 256 KB of markdown built to be slow costs seconds to parse, and pages,
        # pairing and health must keep answering meanwhile.
        view = await asyncio.to_thread(card_view, safe, card_id, time.time(), self.limits.link_hosts)
        self.history.append(view)
        waiter = asyncio.get_running_loop().create_future()
        self._acks[card_id] = waiter
        try:
            sent = await self.broadcast({"type": "card", "card": view})
            status = "stored"
            if sent:
                try:
                    await asyncio.wait_for(waiter, self.ack_timeout_seconds)
                    status = "shown"
                except TimeoutError:
                    logger.info("no page acknowledged card %s within %.1f s", card_id, self.ack_timeout_seconds)
        finally:
            self._acks.pop(card_id, None)
        return {"type": "ack", "card_id": card_id, "status": status, "viewers": sent}

    async def set_pairing_code(self, code: str, paired: str | None = None) -> None:
        if code != self.pairing_code or paired:
            self.pairing_code = code
            await self.broadcast({"type": "pairing", "code": code, "paired": paired}, only_code_viewers=True)

    async def broadcast(self, message: dict[str, Any], only_code_viewers: bool = False) -> int:
        """Send to every page at once; return how many took it."""
        text = json.dumps(message, ensure_ascii=False)
        viewers = [viewer for viewer, shows_code in self._viewers.items() if shows_code or not only_code_viewers]
        results = await asyncio.gather(*(self._send(viewer, text) for viewer in viewers))
        return sum(results)

    async def _send(self, viewer: Any, text: str) -> bool:
        try:
            await asyncio.wait_for(viewer.send_str(text), SEND_TIMEOUT_SECONDS)
            return True
        except (ConnectionError, TimeoutError, RuntimeError) as error:
            logger.info("dropping a page that cannot be written to: %s", error)
            self._viewers.pop(viewer, None)
            return False

    async def serve_page(self, socket: Any, shows_code: bool) -> None:
        """Run one page's WebSocket (an aiohttp WebSocketResponse already prepared) until it closes."""
        from aiohttp import WSMsgType

        self._viewers[socket] = shows_code
        try:
            await socket.send_str(json.dumps(self.hello(shows_code), ensure_ascii=False))
            async for frame in socket:
                if frame.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    await self._on_page_message(socket, frame.data)
        finally:
            self._viewers.pop(socket, None)

    async def _on_page_message(self, socket: Any, raw: Any) -> None:
        try:
            message = parse_message(raw, PAGE_MESSAGES)
        except ProtocolError as error:
            logger.info("refused a page message: %s", error)
            await socket.send_json(error_message(str(error), error.code, error.message_id))
            return
        if message["type"] == "ping":
            await socket.send_json({"type": "pong", "id": message.get("id")})
            return
        waiter = self._acks.get(message.get("id") or "")
        if waiter is not None and not waiter.done():
            waiter.set_result(True)

    async def close(self) -> None:
        for viewer in list(self._viewers):
            await viewer.close()
        self._viewers.clear()
