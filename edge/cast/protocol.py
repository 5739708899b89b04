"""Names and messages shared by the speaker and the companion (protocol version 2).

Discovery: a companion advertises `_edgecast._tcp.local.` with TXT records `name`, `room`,
`res` (WIDTHxHEIGHT), `proto` (this version), `id` (its stable companion id) and `path` (the
page). Chromecasts advertise `_googlecast._tcp.local.` on their own.

HTTP on the companion (all JSON):
    GET  /                the full-screen page (plain browser tab, TV browser, phone, Chromecast)
    GET  /ws              WebSocket for pages: hello (history, pairing code), card, pairing
    GET  /api/health      {"id", "name", "room", "protocol", "viewers"}; the speaker's liveness probe
    POST /api/pair        {"code", "speaker_id", "speaker_name"} -> {"token", "id", "name"}; 403 bad code
    GET  /api/ws          WebSocket for speakers, ?speaker=ID&nonce=HEX: the pairing proof of
                          edge.cast.proof, then sealed {"type": "card", "id", "card"} -> sealed ack
    POST /api/cards       410 since version 2 (it carried the pairing token on every card)

An ack is `{"type": "ack", "id", "status": "shown"|"stored", "viewers": N}`: "shown" once an
open page has rendered the card, "stored" when no page acknowledged it in time (it is in the
history). Anything wrong gets `{"type": "error", "id", "code", "text"}` and the socket stays open.
"""

from __future__ import annotations

import json
from typing import Any

from edge.core.errors import BadInputError

SERVICE_TYPE = "_edgecast._tcp.local."
CHROMECAST_SERVICE_TYPE = "_googlecast._tcp.local."
PROTOCOL_VERSION = 2  # 2: speakers prove the pairing key instead of sending a bearer token


class ProtocolError(BadInputError, ValueError):
    """A WebSocket message is not one this protocol knows; `code` goes back in the error reply."""

    def __init__(self, text: str, code: str = "bad-message", message_id: str | None = None):
        super().__init__(text)
        self.code = code
        self.message_id = message_id


def parse_message(raw: Any, allowed: frozenset[str]) -> dict[str, Any]:
    """One JSON object with a string `type` among `allowed`; raise ProtocolError otherwise."""
    if not isinstance(raw, str):
        raise ProtocolError("messages are JSON text frames, not binary")
    try:
        message = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ProtocolError(f"not JSON: {error.msg} at character {error.pos}") from error
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise ProtocolError("a message is a JSON object with a string 'type'")
    message_id = message.get("id")
    if message_id is not None and not isinstance(message_id, str):
        raise ProtocolError("'id' must be a string")
    if message["type"] not in allowed:
        raise ProtocolError(
            f"unknown message type {message['type']!r}; expected one of {', '.join(sorted(allowed))}",
            message_id=message_id,
        )
    return message


async def read_json(response: Any, limit: int) -> Any:
    """The JSON body of an HTTP response from a peer found on the network; ValueError when it is not
    JSON or is over `limit` bytes (whatever answers at an mDNS-given address may send anything)."""
    # content.read(n) returns what has arrived so far (up to n), so read until the end or the limit.
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = await response.content.read(limit + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > limit:
        raise ValueError(f"the answer is over {limit} bytes")
    body = b"".join(chunks)
    try:
        return json.loads(body)
    except RecursionError as error:
        raise ValueError("the answer nests too deeply") from error


def error_message(text: str, code: str = "bad-message", message_id: str | None = None) -> dict[str, Any]:
    return {"type": "error", "id": message_id, "code": code, "text": text}


def txt_record(name: str, room: str, resolution: str, companion_id: str) -> dict[str, str]:
    return {
        "name": name, "room": room, "res": resolution, "proto": str(PROTOCOL_VERSION),
        "id": companion_id, "path": "/",
    }
