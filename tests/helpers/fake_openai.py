"""A small OpenAI-compatible server for the faults a real server will not produce on demand.

It speaks what llama.cpp's server (llama-cpp-python 0.3.36: uvicorn + sse-starlette) sends,
byte for byte as captured from it: HTTP/1.1, its headers in its order, chunked transfer
encoding with one HTTP chunk per event, `data: {chat.completion.chunk JSON}\\n\\n` per token
(keys in its order; the first delta carries only the role), a last chunk with an empty delta
and `finish_reason`, then `data: [DONE]\\n\\n`. Modes:

    ok        stream `answer` in small pieces
    hang      read the request, then send nothing until the client goes away
    http500   answer HTTP 500 (the first `failures` requests; then like ok)
    malformed one data event that is not JSON
    endless   tokens forever, never [DONE]
    huge      a 50,000-character answer
    json      one plain JSON chat.completion (a server that ignores "stream": true)
    tool_calls  the model calls tools instead of answering: `tool_calls` [(name, arguments JSON)],
              streamed in OpenAI's documented chunk shape (`openai_tool_chunks`); any `answer` text
              comes first, as a model that says "Sure." before acting
    replay    the events of a recorded exchange (`recording`, a .sse file), one HTTP chunk each,
              byte for byte (tests/helpers/recordings/: a capture of llama.cpp's server)
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

RECORDINGS = Path(__file__).resolve().parent / "recordings"


class FakeOpenAI:
    def __init__(self, mode: str = "ok", answer: str = "Paris is the capital of France. It is on the Seine.", failures: int = 10**9,
                 tool_calls: list[tuple[str, str]] | None = None, recording: Path | None = None):
        self.mode = mode
        self.answer = answer
        self.failures = failures
        self.tool_calls = list(tool_calls or [])
        self.recording = recording
        self.requests: list[dict] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.fake = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.closed = threading.Event()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.closed.set()
        self._server.shutdown()
        self._server.server_close()


def chunk_json(content: str | None, finish: str | None = None, role: bool = False) -> bytes:
    delta: dict = {}
    if role:
        delta["role"] = "assistant"
    if content is not None:
        delta["content"] = content
    chunk = {
        "id": "chatcmpl-388e9b7f-97a3-4fed-bd6d-e495f4c006bc", "model": "/models/fake.gguf", "created": 1795938134,
        "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


def openai_tool_chunks(calls: list[tuple[str, str]], piece_chars: int = 6, role: bool = True) -> list[bytes]:
    """Tool calls as api.openai.com streams them (its documented shape, compact JSON): the first delta
    of each call has role (first call only), content null, index, id, type, name and arguments "";
    then argument fragments by index; then an empty delta with finish_reason "tool_calls"."""
    ident, created, model, fingerprint = "chatcmpl-CL6cYk3vD1mR8pQ2xW4nT7bZ9aEfG", 1796620484, "gpt-4o-mini-2024-07-18", "fp_51db84afab"

    def chunk(delta: dict, finish: str | None = None) -> bytes:
        body = {"id": ident, "object": "chat.completion.chunk", "created": created, "model": model,
                "service_tier": "default", "system_fingerprint": fingerprint,
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
        return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"

    events = []
    for index, (name, arguments) in enumerate(calls):
        first = {"tool_calls": [{"index": index, "id": f"call_q7Yd2nVfR3kLm9XcT4bWs{index:03d}", "type": "function",
                                 "function": {"name": name, "arguments": ""}}]}
        if index == 0 and role:
            first = {"role": "assistant", "content": None, **first, "refusal": None}
        events.append(chunk(first))
        events += [chunk({"tool_calls": [{"index": index, "function": {"arguments": arguments[start : start + piece_chars]}}]})
                   for start in range(0, len(arguments), piece_chars)]
    events.append(chunk({}, "tool_calls"))
    return events


def recorded_events(path: Path) -> list[bytes]:
    """A recorded SSE body split into its events (each ends with a blank line)."""
    raw = path.read_bytes()
    return [event + b"\n\n" for event in raw.split(b"\n\n") if event]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def do_POST(self) -> None:  # noqa: N802 (http.server naming)
        fake = self.server.fake
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        fake.requests.append(json.loads(body))
        mode = fake.mode
        if mode == "http500" and len(fake.requests) <= fake.failures:
            return self._plain(500, b'{"error":{"message":"Internal Server Error","type":"server_error"}}')
        if mode == "json":  # a server that ignores "stream": true
            message = {"role": "assistant", "content": fake.answer}
            body = {"id": "chatcmpl-1", "object": "chat.completion", "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}
            return self._plain(200, json.dumps(body).encode())
        if mode == "hang":
            fake.closed.wait(60)
            return None
        self._start_stream()
        try:
            self._stream(mode)
        except (BrokenPipeError, ConnectionResetError):
            pass
        return None

    def _plain(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _start_stream(self) -> None:
        self.send_response_only(200)
        for name, value in (
            ("date", self.date_time_string()), ("server", "uvicorn"), ("cache-control", "no-store"),
            ("connection", "keep-alive"), ("x-accel-buffering", "no"), ("content-type", "text/event-stream; charset=utf-8"),
            ("openai-processing-ms", "3"), ("x-request-id", "b4d16800915e431faeb198396016e1b4"), ("vary", "Origin"),
            ("Transfer-Encoding", "chunked"),
        ):
            self.send_header(name, value)
        self.end_headers()

    def _send(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _stream(self, mode: str) -> None:
        fake = self.server.fake
        if mode == "replay":
            for event in recorded_events(fake.recording):
                self._send(event)
            self._send(b"")
            return
        if mode == "tool_calls":
            if fake.answer:  # "Sure." before the calls, as some models say
                self._send(chunk_json(None, role=True))
                self._send(chunk_json(fake.answer))
            for event in openai_tool_chunks(fake.tool_calls, role=not fake.answer):
                self._send(event)
            self._send(b"data: [DONE]\n\n")
            self._send(b"")
            return
        self._send(chunk_json(None, role=True))
        if mode == "malformed":
            self._send(b'data: {"id": "chatcmpl-1", "choices": [{"delta": {"content": "Hel\n\n')
        elif mode == "endless":
            while not fake.closed.is_set():
                self._send(chunk_json("la "))
                time.sleep(0.002)
        else:
            text = "word " * 10000 if mode == "huge" else fake.answer
            for start in range(0, len(text), 5):
                self._send(chunk_json(text[start : start + 5]))
        self._send(chunk_json(None, finish="stop"))
        self._send(b"data: [DONE]\n\n")
        self._send(b"")  # last chunk of the chunked body
