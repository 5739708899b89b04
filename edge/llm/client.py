"""A streaming client for any OpenAI-compatible server (`/v1/chat/completions`, `/v1/completions`).

    client = LlmClient(LlmEndpoint.from_settings(settings.llm, os.environ), CircuitBreaker(3, 30))
    stream = client.stream(LlmRequest(messages=[{"role": "user", "content": "Why is the sky blue?"}]))
    stream.wait_first()          # raises an LlmError if nothing came (retries are already spent)
    for text in stream:          # the answer, delta by delta, as the server sends it
        ...
    stream.text, stream.truncated, stream.timed_out, stream.error
    stream.tool_calls            # with LlmRequest(tools=...): the calls the model made (edge/llm/tools.py)

A reader thread owns the HTTP response and hands text deltas over a bounded queue, so the caller
can synthesise speech while the rest of the answer streams. Everything is bounded: connect and
read timeouts per attempt, a total deadline across retries, a cap on answer characters (the
stream is closed there), a cap on SSE line length. Failures before the first token (an empty
answer too) are retried with backoff (never after: the caller may already be speaking) and counted
by the circuit breaker (edge/llm/breaker.py). The answer is untrusted text: it is cleaned of control
characters (edge/llm/stream.py) and never executed.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from edge.llm.breaker import CircuitBreaker
from edge.llm.errors import (
    CircuitOpen,
    LlmEndpoint,
    LlmError,
    LlmProtocolError,
    LlmRequest,
    LlmServerError,
    LlmTimeout,
    LlmUnavailable,
)
from edge.llm.sse import SseDecoder, SseError
from edge.llm.stream import AnswerStream, clean_text

logger = logging.getLogger(__name__)

MAX_LINE_BYTES = 65536
MAX_JSON_BODY_BYTES = 1 << 20

__all__ = [
    "AnswerStream", "CircuitBreaker", "CircuitOpen", "LlmClient", "LlmEndpoint", "LlmError", "LlmProtocolError",
    "LlmRequest", "LlmServerError", "LlmTimeout", "LlmUnavailable", "clean_text",
]


class LlmClient:
    """One HTTP connection pool to one endpoint. Thread-safe; `close()` when done."""

    def __init__(self, endpoint: LlmEndpoint, breaker: CircuitBreaker | None = None) -> None:
        try:
            import httpx
        except ImportError as error:
            raise LlmUnavailable("the LLM tier needs httpx: pip install 'edge-voice[llm]'") from error
        if not endpoint.base_url.startswith(("http://", "https://")):
            raise LlmUnavailable(
                f"LLM base_url {endpoint.base_url!r} is not an http(s) URL; set llm.base_url, e.g. http://127.0.0.1:8080/v1"
            )
        self.endpoint = endpoint
        self.breaker = breaker
        self._httpx = httpx
        self._http = httpx.Client(follow_redirects=False)

    def close(self) -> None:
        self._http.close()

    def url(self, request: LlmRequest) -> str:
        return self.endpoint.base_url + request.path()

    def stream(self, request: LlmRequest, before_send: Callable[[], object] | None = None) -> AnswerStream:
        """Start asking; raises CircuitOpen at once (nothing sent) when the circuit breaker is open.

        `before_send` runs in the caller's thread just before the request may leave (the ledger's hook).
        """
        if self.breaker is not None and not self.breaker.allow():
            raise CircuitOpen(f"{self.endpoint.base_url} failed repeatedly; circuit breaker open, not asking")
        if before_send is not None:
            before_send()
        stream = AnswerStream(self.endpoint, time.monotonic() + self.endpoint.total_timeout_seconds)
        thread = threading.Thread(target=self._read, args=(request, stream), name="llm-stream", daemon=True)
        thread.start()
        return stream

    def _read(self, request: LlmRequest, stream: AnswerStream) -> None:
        delay = self.endpoint.retry_backoff_seconds
        for attempt in range(1 + max(0, self.endpoint.retries)):
            stream.attempts = attempt + 1
            try:
                self._attempt(request, stream)
                if not stream.started and not stream.cancelled.is_set():
                    raise LlmProtocolError(f"{self.endpoint.base_url} sent an empty answer")
                if self.breaker is not None:
                    self.breaker.record_success()
                stream.finish(None)
                return
            except LlmError as error:
                logger.warning("LLM %s attempt %d failed: %s", self.endpoint.base_url, attempt + 1, error)
                last = error
            if stream.started or not last.retryable or stream.cancelled.is_set():
                break
            if stream.remaining() < delay or attempt == self.endpoint.retries or stream.cancelled.wait(delay):
                break
            delay *= 2
        if self.breaker is not None and not stream.started:
            self.breaker.record_failure()
        stream.finish(last)

    def _attempt(self, request: LlmRequest, stream: AnswerStream) -> None:
        httpx = self._httpx
        remaining = stream.remaining()
        if remaining <= 0:
            raise LlmTimeout(f"no answer from {self.endpoint.base_url} within {self.endpoint.total_timeout_seconds:g} s")
        endpoint = self.endpoint
        timeout = httpx.Timeout(
            connect=min(endpoint.connect_timeout_seconds, remaining),
            read=min(endpoint.read_timeout_seconds, remaining),
            write=min(endpoint.read_timeout_seconds, remaining),
            pool=min(endpoint.connect_timeout_seconds, remaining),
        )
        headers = {"Accept": "text/event-stream"}
        if endpoint.api_key:
            headers["Authorization"] = f"Bearer {endpoint.api_key}"
        url = endpoint.base_url + request.path()
        try:
            with self._http.stream("POST", url, json=request.payload(endpoint.model), headers=headers, timeout=timeout) as response:
                _check_status(response, url)
                if "text/event-stream" in response.headers.get("content-type", ""):
                    self._read_events(response, stream)
                else:
                    _read_json_body(response, stream)
        except httpx.TimeoutException as error:
            raise LlmTimeout(f"{url}: {type(error).__name__}; raise llm.read_timeout_seconds if the server is slow") from error
        except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as error:
            raise LlmUnavailable(f"cannot reach {url}: {error or type(error).__name__}") from error
        except httpx.HTTPError as error:  # anything else httpx raises (bad encoding, local protocol errors)
            raise LlmProtocolError(f"{url}: {type(error).__name__}: {error}") from error

    def _read_events(self, response, stream: AnswerStream) -> None:
        decoder = SseDecoder(MAX_LINE_BYTES)
        for chunk in response.iter_bytes():
            if stream.cancelled.is_set():
                return
            if stream.remaining() <= 0:
                raise LlmTimeout(f"the answer did not end within {self.endpoint.total_timeout_seconds:g} s")
            try:
                events = decoder.feed(chunk)
            except SseError as error:
                raise LlmProtocolError(f"{response.url}: {error}") from error
            for data in events:
                if data.strip() == "[DONE]":
                    return
                chunk = _parse_chunk(data, str(response.url))
                if not stream.emit_tool_calls(_delta_tool_calls(chunk)):
                    return
                if not stream.emit(_delta_text(chunk)):
                    return  # cap reached or cancelled: closing the response ends the stream


def _check_status(response, url: str) -> None:
    if response.status_code == 200:
        return
    body = response.read()[:300].decode("utf-8", "replace")
    if response.status_code in (401, 403):
        raise LlmServerError(f"{url} refused the API key (HTTP {response.status_code}); check the variable named by llm.api_key_env", response.status_code)
    raise LlmServerError(f"{url} answered HTTP {response.status_code}: {clean_text(body)!r}", response.status_code)


def _read_json_body(response, stream: AnswerStream) -> None:
    """A server that ignored `stream: true` and sent one JSON object."""
    body = b""
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > MAX_JSON_BODY_BYTES:
            raise LlmProtocolError(f"{response.url}: JSON answer larger than {MAX_JSON_BODY_BYTES} bytes")
    data = _parse_chunk(body.decode("utf-8", "replace"), str(response.url))
    choice = (data.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    calls = message.get("tool_calls") if isinstance(message, dict) else None
    if isinstance(calls, list):  # whole calls: each is its own first delta
        stream.emit_tool_calls([{**call, "index": index} for index, call in enumerate(calls) if isinstance(call, dict)])
    text = choice.get("text") or message.get("content") or ""
    stream.emit(text if isinstance(text, str) else "")


def _parse_chunk(data: str, url: str) -> dict[str, Any]:
    try:
        chunk = json.loads(data)
    except json.JSONDecodeError as error:
        raise LlmProtocolError(f"{url}: a streamed chunk is not JSON ({error}): {clean_text(data)[:80]!r}") from error
    if not isinstance(chunk, dict):
        raise LlmProtocolError(f"{url}: a streamed chunk is not a JSON object")
    if "error" in chunk:
        message = chunk["error"].get("message", chunk["error"]) if isinstance(chunk["error"], dict) else chunk["error"]
        raise LlmServerError(f"{url}: the server reported an error mid-stream: {clean_text(str(message))[:200]}", 500)
    return chunk


def _delta_tool_calls(chunk: dict[str, Any]) -> Any:
    """A chunk's `choices[0].delta.tool_calls` (None when it has none)."""
    choices = chunk.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
    delta = choice.get("delta")
    return delta.get("tool_calls") if isinstance(delta, dict) else None


def _delta_text(chunk: dict[str, Any]) -> str:
    choices = chunk.get("choices")
    if not isinstance(choices, list):
        raise LlmProtocolError("a streamed chunk has no 'choices' list")
    if not choices:
        return ""  # e.g. a usage-only chunk
    choice = choices[0] if isinstance(choices[0], dict) else {}
    delta = choice.get("delta")
    text = delta.get("content") if isinstance(delta, dict) else choice.get("text")
    return text if isinstance(text, str) else ""
