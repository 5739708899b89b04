"""Wyoming framing: a JSON header line, then an optional JSON data block and binary payload.

    {"type": "audio-chunk", "version": "1.10.2", "data_length": 57, "payload_length": 2048}\\n
    {"rate": 16000, "width": 2, "channels": 1, "timestamp": null}<2048 bytes of PCM>

`encode_frame` writes exactly the bytes the `wyoming` package's `async_write_event` writes for
the same event and version. `FrameDecoder` is sans-I/O: feed it bytes in any split, it returns
whole frames. Anything that is not a frame raises a `WyomingProtocolError` subclass (garbage
never looks like end of stream), and nothing is buffered beyond the `FrameLimits`.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from edge.core.errors import BadInputError

PROTOCOL_VERSION = "1.10.2"  # the wyoming release whose framing and event shapes this package matches
READ_SIZE = 65536  # bytes asked of the socket per read


class WyomingProtocolError(BadInputError):
    """Bytes from a peer are not a Wyoming frame; the connection is out of sync and must close."""


class HeaderTooLargeError(WyomingProtocolError):
    """No newline within `max_header_bytes`."""


class PayloadTooLargeError(WyomingProtocolError):
    """A frame announces a data block or payload larger than the limits allow."""


class MalformedFrameError(WyomingProtocolError):
    """The header line or data block is not the JSON the protocol requires."""


class TruncatedFrameError(WyomingProtocolError):
    """The stream ended in the middle of a frame."""


@dataclass(frozen=True)
class FrameLimits:
    max_header_bytes: int = 16384  # bytes in the JSON header line, newline included
    max_data_bytes: int = 1_048_576  # bytes in the JSON data block
    max_payload_bytes: int = 1_048_576  # bytes of binary payload (audio) in one frame

    @property
    def max_buffered_bytes(self) -> int:
        """The most a decoder ever holds: one whole frame plus one socket read."""
        return self.max_header_bytes + self.max_data_bytes + self.max_payload_bytes + READ_SIZE


@dataclass(frozen=True)
class Frame:
    """One Wyoming event on the wire: its type, its data (header data merged with the block), its payload."""

    type: str
    data: dict[str, Any] = field(default_factory=dict)
    payload: bytes | None = None


def encode_frame(frame: Frame, version: str = PROTOCOL_VERSION) -> bytes:
    """The bytes of `frame`, identical to `wyoming.event.async_write_event` with the same version."""
    header: dict[str, Any] = {"type": frame.type, "version": version}
    data_bytes = b""
    if frame.data:
        data_bytes = json.dumps(frame.data, ensure_ascii=False).encode("utf-8")
        header["data_length"] = len(data_bytes)
    if frame.payload:
        header["payload_length"] = len(frame.payload)
    line = json.dumps(header, ensure_ascii=False).encode("utf-8") + b"\n"
    return line + data_bytes + (frame.payload or b"")


@dataclass
class _Header:
    type: str
    data: dict[str, Any]
    data_length: int
    payload_length: int


class FrameDecoder:
    """Turns a byte stream into frames. After an error the stream is out of sync: close it."""

    def __init__(self, limits: FrameLimits | None = None) -> None:
        self.limits = limits or FrameLimits()
        self._buffer = bytearray()
        self._scanned = 0  # bytes of the buffer already searched for the header's newline
        self._header: _Header | None = None

    @property
    def buffered_bytes(self) -> int:
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Frame]:
        """Add bytes; return every frame they complete (possibly none)."""
        self._buffer += data
        frames = []
        while (frame := self._next_frame()) is not None:
            frames.append(frame)
        return frames

    def close(self) -> None:
        """The stream ended: raise if it ended inside a frame."""
        if self._buffer or self._header is not None:
            raise TruncatedFrameError(
                f"connection closed in the middle of a frame ({len(self._buffer)} bytes of it received)"
            )

    def _next_frame(self) -> Frame | None:
        if self._header is None:
            newline = self._buffer.find(b"\n", self._scanned)
            if newline < 0:
                self._scanned = len(self._buffer)
                if len(self._buffer) >= self.limits.max_header_bytes:
                    raise HeaderTooLargeError(
                        f"no end of header within {self.limits.max_header_bytes} bytes: the peer is not "
                        "speaking Wyoming, or raise bridge.max_header_bytes"
                    )
                return None
            if newline + 1 > self.limits.max_header_bytes:
                raise HeaderTooLargeError(
                    f"header line of {newline + 1} bytes exceeds the limit of {self.limits.max_header_bytes}"
                )
            self._header = parse_header(bytes(self._buffer[:newline]), self.limits)
            del self._buffer[: newline + 1]
            self._scanned = 0
        header = self._header
        needed = header.data_length + header.payload_length
        if len(self._buffer) < needed:
            return None
        data = dict(header.data)
        if header.data_length:
            data.update(_parse_data_block(bytes(self._buffer[: header.data_length])))
        payload = bytes(self._buffer[header.data_length : needed]) if header.payload_length else None
        del self._buffer[:needed]
        self._header = None
        return Frame(type=header.type, data=data, payload=payload)


def parse_header(line: bytes, limits: FrameLimits) -> _Header:
    """Check one header line (without its newline) and the lengths it announces."""
    header = _json_object(line, "header line")
    event_type = header.get("type")
    if not isinstance(event_type, str) or not event_type:
        raise MalformedFrameError("header has no 'type' string")
    data = header.get("data")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise MalformedFrameError(f"{event_type}: header 'data' must be an object")
    version = header.get("version")
    if version is not None and not isinstance(version, str):
        raise MalformedFrameError(f"{event_type}: header 'version' must be a string")
    data_length = _length(header, "data_length", event_type, limits.max_data_bytes, "max_data_bytes")
    payload_length = _length(header, "payload_length", event_type, limits.max_payload_bytes, "max_payload_bytes")
    return _Header(event_type, data, data_length, payload_length)


def _length(header: dict[str, Any], key: str, event_type: str, limit: int, setting: str) -> int:
    value = header.get(key)
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise MalformedFrameError(f"{event_type}: header '{key}' must be a non-negative integer, got {value!r:.40}")
    if value > limit:
        raise PayloadTooLargeError(
            f"{event_type}: {key} of {value} bytes exceeds the limit of {limit}; raise bridge.{setting} "
            "if this peer is trusted"
        )
    return value


def _parse_data_block(block: bytes) -> dict[str, Any]:
    return _json_object(block, "data block")


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError) as error:  # JSONDecodeError, bad UTF-8, over-long integers, deep nesting
        raise MalformedFrameError(f"{what} is not JSON: {str(error)[:80]}") from error
    if not isinstance(value, dict):
        raise MalformedFrameError(f"{what} must be a JSON object, got {type(value).__name__}")
    return value


class FrameReader:
    """Frames from an asyncio stream, read in bounded pieces."""

    def __init__(self, reader: asyncio.StreamReader, limits: FrameLimits | None = None) -> None:
        self._reader = reader
        self._decoder = FrameDecoder(limits)
        self._ready: deque[Frame] = deque()

    async def read(self) -> Frame | None:
        """The next frame; None only when the peer closed cleanly between frames."""
        while not self._ready:
            chunk = await self._reader.read(READ_SIZE)
            if not chunk:
                self._decoder.close()
                return None
            self._ready.extend(self._decoder.feed(chunk))
        return self._ready.popleft()


async def write_frame(writer: asyncio.StreamWriter, frame: Frame) -> None:
    writer.write(encode_frame(frame))
    await writer.drain()
