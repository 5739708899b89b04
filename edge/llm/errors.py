"""Why an LLM gave no usable answer, and where an LLM is: its endpoint and one request.

Every failure of the cloud or offline tier is an `LlmError` whose message says why and how to
fix it; `retryable` says whether the client may try again before the first token.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from edge.core.errors import PeerError
from edge.core.settings import LlmSettings


class LlmError(PeerError):
    """The language model gave no usable answer; the message says why and how to fix it."""

    retryable = False


class LlmUnavailable(LlmError):
    """Not configured, unreachable, or the circuit breaker is open."""

    retryable = True


class CircuitOpen(LlmUnavailable):
    """Recent requests failed; nothing is sent until the breaker lets a trial through."""

    retryable = False


class LlmTimeout(LlmError):
    retryable = True


class LlmServerError(LlmError):
    """The server answered with an HTTP error status (5xx and 429 are retried)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = status >= 500 or status == 429


class LlmProtocolError(LlmError):
    """The reply is not OpenAI-compatible JSON / server-sent events."""

    retryable = True


@dataclass(frozen=True)
class LlmEndpoint:
    """Where and how to ask; built from the cloud or the offline settings."""

    base_url: str  # ends with /v1
    model: str = ""
    api_key: str = field(default="", repr=False)
    connect_timeout_seconds: float = 2.0
    read_timeout_seconds: float = 5.0
    total_timeout_seconds: float = 12.0
    retries: int = 1
    retry_backoff_seconds: float = 0.3
    max_answer_chars: int = 2000

    @classmethod
    def from_settings(cls, settings: LlmSettings, environ: Mapping[str, str]) -> LlmEndpoint:
        return cls(
            base_url=settings.base_url.rstrip("/"),
            model=settings.model,
            api_key=environ.get(settings.api_key_env, "") if settings.api_key_env else "",
            connect_timeout_seconds=settings.connect_timeout_seconds,
            read_timeout_seconds=settings.read_timeout_seconds,
            total_timeout_seconds=settings.total_timeout_seconds,
            retries=settings.retries,
            retry_backoff_seconds=settings.retry_backoff_seconds,
            max_answer_chars=settings.max_answer_chars,
        )


@dataclass(frozen=True)
class LlmRequest:
    """Chat (`messages`) or plain completion (`prompt`, for base models); a chat may offer `tools`
    (OpenAI function tools: the model may answer with tool calls instead of text)."""

    messages: tuple[dict[str, str], ...] = ()
    prompt: str = ""
    max_tokens: int = 256
    temperature: float = 0.3
    stop: tuple[str, ...] = ()
    tools: tuple[dict[str, Any], ...] = ()
    tool_choice: str | dict[str, Any] = "auto"  # with tools: auto, none, required, or one named function

    def path(self) -> str:
        return "/completions" if self.prompt else "/chat/completions"

    def payload(self, model: str) -> dict[str, Any]:
        body: dict[str, Any] = {"stream": True, "max_tokens": self.max_tokens, "temperature": self.temperature}
        if model:
            body["model"] = model
        if self.prompt:
            body["prompt"] = self.prompt
        else:
            body["messages"] = list(self.messages)
        if self.stop:
            body["stop"] = list(self.stop)
        if self.tools and not self.prompt:
            body["tools"] = list(self.tools)
            body["tool_choice"] = self.tool_choice
        return body
