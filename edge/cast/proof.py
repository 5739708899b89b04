"""Mutual proof between a speaker and a paired companion; the pairing secret never crosses the wire.

Pairing leaves both sides with one key, K = SHA-256(pairing token): the speaker keeps the token,
the companion keeps K. When the speaker opens the speaker socket it proves it holds K, and the
companion proves it holds K first, with HMAC-SHA256 over fresh nonces from both sides:

    speaker   GET /api/ws?speaker=SID&nonce=NS                  (an unknown SID: 403 before upgrade)
    companion {"type": "challenge", "id": CID, "nonce": NC, "proof": HMAC(K, "companion" | CID | SID | NS | NC)}
    speaker   {"type": "proof", "proof": HMAC(K, "speaker" | CID | SID | NS | NC)}
    companion sealed {"type": "ready"}

From then on every message, both ways, is sealed with a session key S = HMAC(K, "session" | ...):
`{"seq": N, "body": "<the message as JSON text>", "mac": HMAC(S, direction | N | body)}`, N
counting 1, 2, 3… per direction. A message with a wrong MAC, or out of order, ends the socket.

So an impostor that advertises a paired companion's id gets no secret and no card (it cannot
make the companion's proof); one that relays both ends of the handshake between the speaker and
the real companion can read the cards (they are not encrypted: see docs/security.md) but can
neither change nor add one, and nothing it recorded works again (the nonces are fresh).

    key = pairing_key(token)
    channel = await speaker_handshake(socket, key, speaker_id, nonce, companion_id)   # the speaker
    channel = await companion_handshake(socket, key, companion_id, speaker_id, nonce)  # the companion
    socket.send_str(channel.seal(text)); text = channel.open(frame.data)
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

SCHEME = "edgecast/2"
NONCE_BYTES = 16
_HEX = re.compile(r"[0-9a-f]{32,128}\Z")
MAX_SPEAKER_ID_CHARS = 80


class ProofError(Exception):
    """A handshake or sealed message failed its proof: the other side does not hold the pairing key,
    or someone changed, replayed or reordered a message. The socket must close."""


def pairing_key(token: str) -> bytes:
    """K: what the companion stores (as hex) and the speaker derives from its token."""
    return hashlib.sha256(token.encode("utf-8")).digest()


def new_nonce() -> str:
    return secrets.token_hex(NONCE_BYTES)


def valid_nonce(nonce: Any) -> bool:
    return isinstance(nonce, str) and _HEX.match(nonce) is not None


def valid_speaker_id(speaker_id: Any) -> bool:
    return isinstance(speaker_id, str) and 0 < len(speaker_id) <= MAX_SPEAKER_ID_CHARS and speaker_id.isprintable()


def _mac(key: bytes, *parts: str) -> str:
    return hmac.new(key, "\n".join((SCHEME, *parts)).encode("utf-8"), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Handshake:
    """The four values both proofs and the session key are bound to."""

    companion_id: str
    speaker_id: str
    speaker_nonce: str
    companion_nonce: str

    def _parts(self) -> tuple[str, ...]:
        return (self.companion_id, self.speaker_id, self.speaker_nonce, self.companion_nonce)

    def companion_proof(self, key: bytes) -> str:
        return _mac(key, "companion", *self._parts())

    def speaker_proof(self, key: bytes) -> str:
        return _mac(key, "speaker", *self._parts())

    def channel(self, key: bytes, side: str) -> SealedChannel:
        """The sealed channel for `side` ("speaker" or "companion") of this handshake."""
        other = "companion" if side == "speaker" else "speaker"
        return SealedChannel(bytes.fromhex(_mac(key, "session", *self._parts())), side, other)


@dataclass
class SealedChannel:
    """Seals outgoing and opens incoming messages of one socket (see the module docstring)."""

    session_key: bytes = field(repr=False)
    sending: str
    receiving: str
    sent: int = 0
    received: int = 0

    def seal(self, body: str) -> str:
        self.sent += 1
        mac = _mac(self.session_key, self.sending, str(self.sent), body)
        return json.dumps({"seq": self.sent, "body": body, "mac": mac}, ensure_ascii=False)

    def open(self, text: Any) -> str:
        """The body of one sealed message; ProofError if it is not the next one the other side sealed."""
        envelope = _json_object(text, "a sealed message")
        seq, body, mac = envelope.get("seq"), envelope.get("body"), envelope.get("mac")
        if not isinstance(seq, int) or isinstance(seq, bool) or not isinstance(body, str) or not isinstance(mac, str):
            raise ProofError('a sealed message is {"seq": N, "body": "...", "mac": "..."}')
        expected = _mac(self.session_key, self.receiving, str(seq), body)
        if not hmac.compare_digest(mac.encode(), expected.encode()):
            raise ProofError("a message failed its proof: it was changed, or not sealed by the paired peer")
        if seq != self.received + 1:
            raise ProofError(f"message {seq} arrived where {self.received + 1} was due: replayed or reordered")
        self.received = seq
        return body


def _json_object(text: Any, what: str) -> dict[str, Any]:
    if not isinstance(text, str):
        raise ProofError(f"{what} must be a JSON text frame")
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise ProofError(f"{what} is not JSON: {str(error)[:80]}") from error
    if not isinstance(value, dict):
        raise ProofError(f"{what} must be a JSON object")
    return value


def challenge_message(handshake: Handshake, key: bytes) -> str:
    """The companion's first message: its nonce and its proof."""
    return json.dumps({
        "type": "challenge", "id": handshake.companion_id, "nonce": handshake.companion_nonce,
        "proof": handshake.companion_proof(key),
    })


def check_challenge(text: Any, key: bytes, companion_id: str, speaker_id: str, speaker_nonce: str) -> Handshake:
    """The speaker's check of the companion's challenge; ProofError for an impostor."""
    message = _json_object(text, "the companion's challenge")
    if message.get("type") == "error":
        raise ProofError(f"the companion refused: {str(message.get('text'))[:200]}")
    if message.get("type") != "challenge" or message.get("id") != companion_id or not valid_nonce(message.get("nonce")):
        raise ProofError("the screen did not answer with a challenge for this companion id")
    handshake = Handshake(companion_id, speaker_id, speaker_nonce, message["nonce"])
    proof = message.get("proof")
    if not isinstance(proof, str) or not hmac.compare_digest(proof.encode(), handshake.companion_proof(key).encode()):
        raise ProofError("the screen could not prove it is the paired companion: an impostor, or it was paired again")
    return handshake


def check_speaker_proof(text: Any, handshake: Handshake, key: bytes) -> None:
    """The companion's check of the speaker's answer."""
    message = _json_object(text, "the speaker's proof")
    proof = message.get("proof")
    if message.get("type") != "proof" or not isinstance(proof, str):
        raise ProofError('the speaker must answer the challenge with {"type": "proof", "proof": "..."}')
    if not hmac.compare_digest(proof.encode(), handshake.speaker_proof(key).encode()):
        raise ProofError("the speaker could not prove it holds the pairing key")


async def speaker_handshake(socket: Any, key: bytes, speaker_id: str, speaker_nonce: str, companion_id: str) -> SealedChannel:
    """Run the speaker's side on an open aiohttp client WebSocket; the channel once the companion is ready."""
    handshake = check_challenge(await _text(socket), key, companion_id, speaker_id, speaker_nonce)
    await socket.send_str(json.dumps({"type": "proof", "proof": handshake.speaker_proof(key)}))
    channel = handshake.channel(key, "speaker")
    ready = _json_object(channel.open(await _text(socket)), "the companion's ready message")
    if ready.get("type") != "ready":
        raise ProofError("the companion did not confirm the proof")
    return channel


async def companion_handshake(socket: Any, key: bytes, companion_id: str, speaker_id: str, speaker_nonce: str) -> SealedChannel:
    """Run the companion's side on a prepared aiohttp server WebSocket; the channel once the speaker proved itself."""
    handshake = Handshake(companion_id, speaker_id, speaker_nonce, new_nonce())
    await socket.send_str(challenge_message(handshake, key))
    check_speaker_proof(await _text(socket), handshake, key)
    channel = handshake.channel(key, "companion")
    await socket.send_str(channel.seal(json.dumps({"type": "ready"})))
    return channel


async def _text(socket: Any) -> Any:
    """The next frame's data; ProofError when the socket closed or sent something else than text."""
    from aiohttp import WSMsgType

    frame = await socket.receive()
    if frame.type != WSMsgType.TEXT:
        raise ProofError(f"the socket closed during the pairing proof ({frame.type.name.lower()})")
    return frame.data
