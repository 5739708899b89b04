"""Server-sent events as OpenAI-compatible servers stream them, decoded incrementally and bounded.

    decoder = SseDecoder(max_line_bytes=65536)
    for chunk in response.iter_bytes():
        for data in decoder.feed(chunk):
            ...  # the `data` of one complete event: a JSON text, or "[DONE]"

Only the `data` field matters to a chat-completions client; comments (`: ping`), `event:`,
`id:` and `retry:` lines are skipped. Lines end with LF or CRLF. A line longer than
`max_line_bytes`, or an event whose `data:` lines add up to more than `max_event_bytes` before
the blank line that ends it, raises `SseError` instead of growing a buffer without limit.
"""

from __future__ import annotations

from edge.core.errors import PeerError


class SseError(PeerError, ValueError):
    """The byte stream is not server-sent events (or breaks a bound); the message says how."""


class SseDecoder:
    def __init__(self, max_line_bytes: int = 65536, max_event_bytes: int = 1 << 20) -> None:
        self._max_line_bytes = max_line_bytes
        self._max_event_bytes = max_event_bytes
        self._buffer = b""
        self._data: list[str] = []
        self._data_bytes = 0

    def feed(self, chunk: bytes) -> list[str]:
        """Add bytes; return the data of every event completed by them."""
        self._buffer += chunk
        events: list[str] = []
        start = 0  # lines are cut by index: many short lines in one chunk cost linear time, not quadratic
        while (newline := self._buffer.find(b"\n", start)) >= 0:
            event = self._line(self._buffer[start:newline].removesuffix(b"\r"))
            if event is not None:
                events.append(event)
            start = newline + 1
        self._buffer = self._buffer[start:]
        if len(self._buffer) > self._max_line_bytes:
            raise SseError(f"a server-sent event line is longer than {self._max_line_bytes} bytes")
        return events

    def _line(self, line: bytes) -> str | None:
        if len(line) > self._max_line_bytes:
            raise SseError(f"a server-sent event line is longer than {self._max_line_bytes} bytes")
        if not line:
            if not self._data:
                return None
            data, self._data, self._data_bytes = "\n".join(self._data), [], 0
            return data
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as error:
            raise SseError(f"a server-sent event line is not UTF-8: {error}") from error
        if text.startswith(":"):
            return None  # comment / keep-alive
        name, _, value = text.partition(":")
        if name == "data":
            self._data_bytes += len(line) + 1
            if self._data_bytes > self._max_event_bytes:
                raise SseError(f"a server-sent event is longer than {self._max_event_bytes} bytes")
            self._data.append(value.removeprefix(" "))
        return None
