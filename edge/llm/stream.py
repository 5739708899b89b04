"""One streamed LLM answer as its consumer sees it, and the errors an answer can end with.

`AnswerStream` is filled by `LlmClient`'s reader thread through a bounded queue and read once by
the caller: `wait_first()`, then iterate (or `deltas(tick_seconds)` to also get time ticks).
The deadline and the character cap are enforced here; the text is cleaned of control characters.
An answer may instead (or also) call tools: `tool_calls` holds them once the stream has ended.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from collections.abc import Iterator

from edge.llm.errors import LlmEndpoint, LlmError, LlmProtocolError, LlmTimeout
from edge.llm.tools import ToolCall, ToolCalls

logger = logging.getLogger(__name__)

_END = object()
_TICK = object()
_TOOL = object()  # the first tool-call delta arrived: the answer has started
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # keeps \t and \n


def clean_text(text: str) -> str:
    """Untrusted model text without control characters (terminal escapes, NULs)."""
    return _CONTROL.sub("", text)


class AnswerStream:
    """The consumer side of one streamed answer. Iterate once; bounded in time and characters."""

    def __init__(self, endpoint: LlmEndpoint, deadline: float) -> None:
        self.endpoint = endpoint
        self.deadline = deadline
        self.cancelled = threading.Event()
        self.started = False  # the reader has emitted text
        self.attempts = 0
        self.truncated = False
        self.timed_out = False
        self.error: LlmError | None = None
        self.first_token_at: float | None = None  # time.perf_counter() when the first text arrived
        self._queue: queue.Queue = queue.Queue(maxsize=1024)
        self._chars = 0
        self._parts: list[str] = []
        self._pending: list[str] = []
        self._tools = ToolCalls()
        self._ended = False

    @property
    def tool_calls(self) -> list[ToolCall]:
        """The tool calls the answer made: complete once the stream has been read to its end ([] when one is
        malformed: then `error` says why)."""
        if not self._ended:
            return []
        try:
            return self._tools.complete()
        except LlmProtocolError as error:
            self.error = self.error or error
            return []

    @property
    def text(self) -> str:
        return "".join(self._parts)

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    # reader side
    def emit(self, text: str) -> bool:
        """Queue a delta; False when the stream should stop (cap reached or cancelled)."""
        text = clean_text(text)
        if not text:
            return not self.cancelled.is_set()
        room = self.endpoint.max_answer_chars - self._chars
        if len(text) >= room:
            text, self.truncated = text[:room], True
        self._chars += len(text)
        if not self.started:
            self.first_token_at, self.started = time.perf_counter(), True
        self._put(text)
        return not self.truncated and not self.cancelled.is_set()

    def emit_tool_calls(self, deltas: object) -> bool:
        """Add one chunk's `delta.tool_calls`; False when the stream should stop (cancelled).
        Raises LlmProtocolError for a malformed or oversized call."""
        if self._tools.feed(deltas) and not self.started:
            self.first_token_at, self.started = time.perf_counter(), True
            self._put(_TOOL)
        return not self.cancelled.is_set()

    def finish(self, error: LlmError | None) -> None:
        self._put(error if error is not None else _END)

    def _put(self, item: object) -> None:
        while not self.cancelled.is_set():
            try:
                self._queue.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    # consumer side
    def wait_first(self) -> None:
        """Block until the first text arrives; raise its LlmError if the answer failed or was empty."""
        item = self._next()
        if item is _TOOL:
            return
        if item is _END:
            raise LlmProtocolError(f"{self.endpoint.base_url} sent an empty answer")
        if isinstance(item, LlmError):
            raise item
        if item is None:
            raise LlmTimeout(f"no answer from {self.endpoint.base_url} within {self.endpoint.total_timeout_seconds:g} s")
        self._pending.append(item)

    def __iter__(self) -> Iterator[str]:
        return (text for text in self.deltas() if text)

    def deltas(self, tick_seconds: float | None = None) -> Iterator[str]:
        """The answer's text deltas; with `tick_seconds`, also "" whenever that long passes without one
        (so a consumer can act on time, e.g. speak what has arrived)."""
        while True:
            item = self._pending.pop(0) if self._pending else self._next(tick_seconds)
            if item is _TICK:
                yield ""
                continue
            if item is _TOOL:
                continue
            if item is None or item is _END or isinstance(item, LlmError):
                if isinstance(item, LlmError):
                    self.error = item
                self._ended = item is _END or isinstance(item, LlmError)
                self.close()
                return
            self._parts.append(item)
            yield item

    def _next(self, tick_seconds: float | None = None) -> object:
        """The next queued item; _TICK after `tick_seconds` of nothing; None when the deadline passed first."""
        remaining = self.remaining()
        if remaining > 0:
            wait = remaining if tick_seconds is None else min(remaining, tick_seconds)
            try:
                return self._queue.get(timeout=wait)
            except queue.Empty:
                if wait < remaining:
                    return _TICK
        self.timed_out = True
        logger.warning("LLM answer from %s cut at the %g s deadline", self.endpoint.base_url, self.endpoint.total_timeout_seconds)
        return None

    def close(self) -> None:
        """Stop the reader (it closes the response at its next chunk)."""
        self.cancelled.set()
