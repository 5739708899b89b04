"""Tool calls in an OpenAI-compatible answer: assembled from the streamed `tool_calls` deltas.

    calls = ToolCalls(max_calls=4, max_chars=8192)
    calls.feed(chunk["choices"][0]["delta"].get("tool_calls"))   # every chunk of the stream
    calls.complete()   # [ToolCall(id='call_…', name='iot_hue_lightdim', arguments='{"room": "living room"}')]

How servers stream them (documented by OpenAI; captured from llama.cpp's server): the first delta
of a call carries its `index`, `id`, `type` and `function.name` with `arguments` "", later deltas
carry the same `index` and the next piece of `function.arguments`; the last chunk has an empty
delta and `finish_reason: "tool_calls"`. llama-cpp-python repeats `id` and `name` in every delta
and sends `"tool_calls": null` around them; both shapes assemble to the same calls. The
arguments are untrusted JSON text from the model: `ToolCall.args()` parses them, strictly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from edge.llm.errors import LlmProtocolError


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text, as the model wrote it

    def args(self) -> dict[str, Any]:
        """The arguments as an object; LlmProtocolError when they are not a JSON object."""
        text = self.arguments.strip() or "{}"
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as error:
            raise LlmProtocolError(f"tool call {self.name!r} has arguments that are not JSON: {text[:80]!r}") from error
        if not isinstance(parsed, dict):
            raise LlmProtocolError(f"tool call {self.name!r} has arguments that are not a JSON object: {text[:80]!r}")
        return parsed

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name, "arguments": self.arguments}


@dataclass
class _Partial:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class ToolCalls:
    """Assembles streamed tool-call deltas by their index; bounded in calls and characters."""

    def __init__(self, max_calls: int = 4, max_chars: int = 8192) -> None:
        self._calls: dict[int, _Partial] = {}
        self._max_calls = max_calls
        self._max_chars = max_chars
        self._chars = 0

    def __bool__(self) -> bool:
        return bool(self._calls)

    def feed(self, deltas: Any) -> bool:
        """Add one chunk's `delta.tool_calls` (None or a list); True when it held a tool call."""
        if deltas is None:
            return False
        if not isinstance(deltas, list):
            raise LlmProtocolError("a streamed chunk's delta.tool_calls is not a list")
        for delta in deltas:
            self._feed_one(delta)
        return bool(deltas)

    def _feed_one(self, delta: Any) -> None:
        if not isinstance(delta, dict) or not isinstance(delta.get("index", 0), int):
            raise LlmProtocolError("a streamed tool call has no integer index")
        index = delta.get("index", 0)
        if index not in self._calls and len(self._calls) >= self._max_calls:
            raise LlmProtocolError(f"the answer makes more than {self._max_calls} tool calls")
        call = self._calls.setdefault(index, _Partial())
        function = delta.get("function") or {}
        if not isinstance(function, dict):
            raise LlmProtocolError("a streamed tool call's function is not an object")
        if isinstance(delta.get("id"), str) and not call.id:
            call.id = delta["id"]
        if isinstance(function.get("name"), str) and not call.name:
            call.name = function["name"]
        piece = function.get("arguments")
        if isinstance(piece, str) and piece:
            self._chars += len(piece)
            if self._chars > self._max_chars:
                raise LlmProtocolError(f"tool call arguments longer than {self._max_chars} characters")
            call.arguments.append(piece)

    def complete(self) -> list[ToolCall]:
        """The calls so far, by index; a call without a name is a protocol error."""
        calls = []
        for index in sorted(self._calls):
            partial = self._calls[index]
            if not partial.name:
                raise LlmProtocolError(f"tool call {index} has no function name")
            calls.append(ToolCall(partial.id or f"call_{index}", partial.name, "".join(partial.arguments)))
        return calls
