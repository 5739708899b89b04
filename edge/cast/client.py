"""The speaker's side of the companion protocol: pairing over HTTP, cards over a WebSocket.

`ScreenLink` keeps one WebSocket per companion, opened with the mutual pairing proof of
edge.cast.proof (the pairing secret never crosses the wire; an impostor fails the proof before
any card is sent), and delivers a card as a sealed `{"type": "card", "id", "card"}`, returning
the companion's sealed ack. A link that went stale (the companion restarted) is reopened once; a
companion that is gone raises `ScreenGone`, one that refuses or fails the proof raises
`DeliveryRefused` (`NotPaired` for 401/403).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from typing import Any

from edge.cast.proof import ProofError, SealedChannel, new_nonce, speaker_handshake
from edge.cast.protocol import read_json
from edge.cast.screens import Screen
from edge.core.errors import PeerError
from edge.core.events import Card, encode_event

logger = logging.getLogger(__name__)

MAX_REPLY_BYTES = 65536  # an ack is a few hundred bytes; a companion sending more is refused


class DeliveryError(PeerError):
    """A card did not reach a screen."""


class ScreenGone(DeliveryError):
    """The screen did not answer, or went away before acknowledging."""


class DeliveryRefused(DeliveryError):
    """The screen answered with an error (the message is its explanation)."""


class NotPaired(DeliveryRefused):
    """The screen does not know this speaker: pair them (`edge cast pair NAME CODE`)."""


class PairingFailed(PeerError):
    """The screen refused the pairing code, or could not be reached."""


def card_message(card: Card, message_id: str) -> str:
    data = json.loads(encode_event(card))["data"]
    return json.dumps({"type": "card", "id": message_id, "card": data}, ensure_ascii=False)


async def pair_with(session: Any, screen: Screen, code: str, speaker_id: str, speaker_name: str) -> dict[str, Any]:
    """Send the code shown on `screen`; return {"token", "id", "name", "room"}."""
    import aiohttp

    body = {"code": code, "speaker_id": speaker_id, "speaker_name": speaker_name}
    try:
        async with session.post(f"{screen.base_url}/api/pair", json=body) as response:
            answer = await read_json(response, MAX_REPLY_BYTES)
    except (aiohttp.ClientError, TimeoutError, ValueError) as error:
        raise PairingFailed(f"cannot reach {screen.name} at {screen.base_url}: {error}") from error
    token = answer.get("token") if isinstance(answer, dict) else None
    if response.status != 200 or not isinstance(token, str) or not 16 <= len(token) <= 256:
        text = answer.get("text") if isinstance(answer, dict) else None
        raise PairingFailed(f"{screen.name} refused pairing ({response.status}): {str(text or 'no reason given')[:200]}")
    if answer.get("id") != screen.screen_id:
        raise PairingFailed(f"{screen.name} answered with another companion id: pair again")
    return answer


def parse_reply(text: str, screen: str) -> dict[str, Any]:
    """A companion's answer as a JSON object; DeliveryRefused for anything else (it is untrusted)."""
    try:
        reply = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise DeliveryRefused(f"{screen} answered with something that is not JSON: {str(error)[:80]}") from error
    if not isinstance(reply, dict):
        raise DeliveryRefused(f"{screen} answered with JSON {type(reply).__name__}, not an object: is it an edge cast companion?")
    return reply


class ScreenLink:
    """One WebSocket to one companion, opened with the pairing proof (edge.cast.proof); one delivery at a time."""

    def __init__(self, session: Any, screen: Screen, key: bytes, speaker_id: str):
        self.session = session
        self.screen = screen
        self.key = key  # the pairing key K; b"" when this speaker is not paired with the screen
        self.speaker_id = speaker_id
        self._socket = None
        self._channel: SealedChannel | None = None
        self._lock = asyncio.Lock()

    async def deliver(self, card: Card, timeout: float) -> dict[str, Any]:
        """Send one card and wait for its ack; raise a DeliveryError subclass on failure."""
        message_id = uuid.uuid4().hex[:12]
        text = card_message(card, message_id)
        async with self._lock:
            try:
                async with asyncio.timeout(timeout):
                    try:
                        return await self._exchange(text, message_id, reuse=True)
                    except ScreenGone:
                        if self._socket is None:
                            raise
                        await self.close()  # a stale socket from before a restart: one fresh try
                        return await self._exchange(text, message_id, reuse=False)
            except TimeoutError as error:
                await self.close()
                raise ScreenGone(f"{self.screen.name} did not acknowledge within {timeout:g} s") from error

    async def _exchange(self, text: str, message_id: str, reuse: bool) -> dict[str, Any]:
        import aiohttp

        if self._socket is None or self._socket.closed or self._channel is None or not reuse:
            await self._connect()
        try:
            await self._socket.send_str(self._channel.seal(text))
            while True:
                frame = await self._socket.receive()
                if frame.type != aiohttp.WSMsgType.TEXT:
                    raise ScreenGone(f"{self.screen.name} closed the connection before acknowledging")
                try:
                    reply = parse_reply(self._channel.open(frame.data), self.screen.name)
                except (DeliveryRefused, ProofError) as error:
                    await self.close()  # a companion that misbehaves gets a fresh connection next time
                    raise DeliveryRefused(str(error)) from error
                if reply.get("id") != message_id:
                    continue  # an answer to an earlier, timed-out delivery
                if reply.get("type") == "error":
                    raise DeliveryRefused(f"{self.screen.name} refused the card: {str(reply.get('text'))[:200]}")
                return reply
        except (aiohttp.ClientError, ConnectionError, ValueError) as error:
            raise ScreenGone(f"lost {self.screen.name} mid-delivery: {error}") from error

    async def _connect(self) -> None:
        import aiohttp

        await self.close()
        if not self.key:
            raise NotPaired(f"this speaker is not paired with {self.screen.name}: edge cast pair {self.screen.name!r} CODE")
        nonce = new_nonce()
        try:
            self._socket = await self.session.ws_connect(
                f"{self.screen.base_url}/api/ws", params={"speaker": self.speaker_id, "nonce": nonce},
                heartbeat=5.0, max_msg_size=MAX_REPLY_BYTES,
            )
            self._channel = await speaker_handshake(self._socket, self.key, self.speaker_id, nonce, self.screen.screen_id)
        except aiohttp.WSServerHandshakeError as error:
            if error.status in (401, 403):
                raise NotPaired(f"{self.screen.name} does not know this speaker: edge cast pair {self.screen.name!r} CODE") from error
            raise DeliveryRefused(f"{self.screen.name} refused the connection ({error.status})") from error
        except (aiohttp.ClientError, ConnectionError) as error:
            raise ScreenGone(f"cannot reach {self.screen.name} at {self.screen.base_url}: {error}") from error
        except ProofError as error:
            await self.close()
            logger.warning("%s at %s failed the pairing proof: %s", self.screen.name, self.screen.base_url, error)
            raise DeliveryRefused(f"{self.screen.name} at {self.screen.base_url}: {error}") from error

    async def close(self) -> None:
        if self._socket is not None:
            socket, self._socket, self._channel = self._socket, None, None
            await socket.close()
