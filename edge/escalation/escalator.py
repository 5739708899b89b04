"""Who answers an escalated turn: the cloud LLM, the on-device LLM, or an honest apology.

    escalator = Escalator.from_settings(settings, os.environ, ledger)
    escalation = escalator.escalate(text, reason, context_messages)
    escalation.route           # cloud | offline
    escalation.stream          # an AnswerStream whose first text has arrived, or None (apology)
    escalator.escalate(text, reason, context_messages, tools)   # the cloud may answer with tool calls

Tiers, in order: the cloud (`llm.base_url`, unless unset or its circuit breaker is open); then,
with `offline.mode = "llm"` and a healthy llama.cpp server, the on-device model prompted as a
completion; otherwise a spoken apology. Every request to the cloud is written to the privacy
ledger before it is sent, after optional redaction. The worst-case wait before the apology is
`llm.total_timeout_seconds` plus, in llm mode, `offline.total_timeout_seconds`. The cloud may be
offered `tools` (the skills' intents, edge/skills/tools.py): its tool calls come back on the stream
(`stream.tool_calls`) for the runtime to carry out; the offline tier is a completion, never offered any.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from edge.core.settings import LlmSettings, OfflineSettings, Settings
from edge.escalation.ledger import PrivacyLedger
from edge.escalation.redaction import redact
from edge.llm.client import AnswerStream, CircuitBreaker, CircuitOpen, LlmClient, LlmEndpoint, LlmError, LlmRequest
from edge.llm.offline import LlamaServer, OfflineLlmError, ServerState, completion_request

logger = logging.getLogger(__name__)

NO_CLOUD_APOLOGY = "Sorry, I can't do that on my own, and no online assistant is set up to ask."
OFFLINE_APOLOGY = "Sorry, I'm offline: I can't reach my online assistant right now. Timers, alarms and sums still work."


@dataclass
class Escalation:
    route: str  # cloud | offline
    tier: str  # cloud | offline-llm | apology
    stream: AnswerStream | None = None
    apology: str = ""
    endpoint: str = ""
    failures: list[str] = field(default_factory=list)
    ledger_id: int | None = None

    def trace(self) -> dict[str, Any]:
        info: dict[str, Any] = {"tier": self.tier, "endpoint": self.endpoint or None, "failures": self.failures}
        if self.stream is not None:
            info.update(attempts=self.stream.attempts, chars=len(self.stream.text), truncated=self.stream.truncated,
                        timed_out=self.stream.timed_out, error=None if self.stream.error is None else str(self.stream.error))
            calls = self.stream.tool_calls
            if calls:
                info["tool_calls"] = [{"name": call.name, "arguments": call.arguments} for call in calls]
        return info


class Escalator:
    def __init__(
        self, llm: LlmSettings, offline: OfflineSettings, ledger: PrivacyLedger,
        cloud: LlmClient | None = None, server: LlamaServer | None = None,
    ) -> None:
        self.llm = llm
        self.offline = offline
        self.ledger = ledger
        self.cloud = cloud
        self.server = server
        self._offline_client = LlmClient(server.endpoint()) if server is not None else None

    @classmethod
    def from_settings(cls, settings: Settings, environ: Mapping[str, str], ledger: PrivacyLedger) -> Escalator:
        cloud = None
        if settings.llm.base_url:
            breaker = CircuitBreaker(settings.llm.breaker_failures, settings.llm.breaker_reset_seconds)
            cloud = LlmClient(LlmEndpoint.from_settings(settings.llm, environ), breaker)
        server = None
        if settings.offline.start_server:
            try:
                server = LlamaServer(settings.offline)
                server.start()
            except OfflineLlmError as error:
                logger.warning("offline tier unavailable: %s", error)
                server = None
        return cls(settings.llm, settings.offline, ledger, cloud, server)

    def close(self) -> None:
        for client in (self.cloud, self._offline_client):
            if client is not None:
                client.close()
        if self.server is not None:
            self.server.stop()

    def messages(self, text: str, context: list[dict[str, str]], tools: bool = False) -> tuple[list[dict[str, str]], dict[str, int]]:
        """The chat messages that would leave the device, redacted when `llm.redact` is on."""
        system = f"{self.llm.system_prompt} {self.llm.tools_prompt}".strip() if tools else self.llm.system_prompt
        messages = [{"role": "system", "content": system}, *context, {"role": "user", "content": text}]
        if not self.llm.redact:
            return messages, {}
        counts: dict[str, int] = {}
        for message in messages[1:]:
            redacted = redact(message["content"])
            message["content"] = redacted.text
            for kind, count in redacted.counts.items():
                counts[kind] = counts.get(kind, 0) + count
        return messages, counts

    def ask_cloud(self, request: LlmRequest, purpose: str, reason: str, redactions: dict[str, int]) -> tuple[AnswerStream, int]:
        """Send to the cloud, ledger first; returns once the first text arrived. Raises LlmError."""
        if self.cloud is None:
            raise CircuitOpen("no cloud LLM is configured; set llm.base_url")
        url = self.cloud.url(request)
        sent = list(request.messages) if request.messages else request.prompt
        entry: list[int] = []
        stream = self.cloud.stream(request, before_send=lambda: entry.append(self.ledger.record(url, purpose, reason, sent, redactions)))
        try:
            stream.wait_first()
        except LlmError as error:
            stream.close()
            self.ledger.set_outcome(entry[0], f"failed: {error}")
            raise
        self.ledger.set_outcome(entry[0], "answered")
        return stream, entry[0]

    def escalate(self, text: str, reason: str, context: list[dict[str, str]], tools: tuple[dict, ...] = ()) -> Escalation:
        failures: list[str] = []
        if self.cloud is None:
            failures.append("cloud: not configured (llm.base_url is empty)")
        else:
            messages, redactions = self.messages(text, context, tools=bool(tools))
            request = LlmRequest(messages=tuple(messages), max_tokens=self.llm.max_tokens, temperature=self.llm.temperature,
                                 tools=tuple(tools))
            try:
                stream, entry = self.ask_cloud(request, "answer", reason, redactions)
            except LlmError as error:
                logger.warning("cloud LLM gave no answer: %s", error)
                failures.append(f"cloud: {error}")
            else:
                return Escalation("cloud", "cloud", stream, endpoint=self.cloud.url(request), failures=failures, ledger_id=entry)
        offline = self._ask_offline(text, failures)
        if offline is not None:
            return offline
        apology = NO_CLOUD_APOLOGY if self.cloud is None else OFFLINE_APOLOGY
        return Escalation("offline", "apology", apology=apology, failures=failures)

    def _ask_offline(self, text: str, failures: list[str]) -> Escalation | None:
        if self.offline.mode != "llm":
            return None
        if self.server is not None and self.server.state is ServerState.STARTING:
            self.server.wait_ready(self.offline.total_timeout_seconds)  # just started with the runtime
        if self.server is None or self._offline_client is None or not self.server.healthy():
            failures.append("offline: the llama.cpp server is not running (offline.start_server)")
            return None
        request = completion_request(text, self.offline.max_tokens)
        try:
            stream = self._offline_client.stream(request)
            stream.wait_first()
        except LlmError as error:
            failures.append(f"offline: {error}")
            return None
        return Escalation("offline", "offline-llm", stream, endpoint=self._offline_client.url(request), failures=failures)
