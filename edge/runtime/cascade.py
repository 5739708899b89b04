"""The cascade around the intent model: route the turn, answer escalated turns as they stream,
keep the conversation's context, the privacy ledger and the training log.

The turn (edge/runtime/turn.py) owns one `Cascade`, shared by every session, and calls for each
turn, with the turn's session key (each session has its own history, edge/escalation/history.py):

    text = cascade.correction(transcript, session) or transcript     # "no, I meant …"
    decision = cascade.decide(intent, session)                        # local or escalate, with the reason
    answered = cascade.answer(text, decision, spoken, mark, session)  # escalated: speak as it streams
    answered.tool_calls                                               # what the cloud asked the speaker to do
    cascade.record_actions(answered, done)                            # ...and what it did, in the privacy ledger
    cascade.after_turn(..., session=session)                          # history + flywheel

The cloud is offered the installed skills' intents as tools (`llm.offer_tools`, edge/skills/tools.py);
the turn carries out the calls it makes through the dialogue (edge/runtime/actions.py).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.core.events import Card, IntentResult, Reply
from edge.core.settings import Settings
from edge.escalation.escalator import Escalation, Escalator
from edge.escalation.flywheel import Flywheel, FlywheelError
from edge.escalation.history import Histories, parse_correction
from edge.escalation.ledger import PrivacyLedger
from edge.escalation.redaction import Redacted, redact
from edge.escalation.router import RouteDecision, Router
from edge.llm.client import LlmError, LlmRequest
from edge.llm.tools import ToolCall
from edge.nlu.bundle import BundleLabels, BundleManifest
from edge.tts.chunking import SpeechChunker, speakable
from edge.tts.speech import SpokenReply, answer_card

logger = logging.getLogger(__name__)

_LABEL = re.compile(r"[a-z][a-z_]+")
EMPTY_ANSWER_APOLOGY = "Sorry, I got no usable answer to that."


@dataclass
class AnsweredTurn:
    reply: Reply
    card: Card | None
    trace: dict[str, Any]
    answer: str  # the whole (capped) answer text
    tool_calls: list[ToolCall] = field(default_factory=list)  # what the cloud asked the speaker to do
    ledger_id: int | None = None  # the privacy ledger's row of the request


def data_file(settings: Settings, configured: str, name: str) -> Path:
    """A configured path, or `name` beside the skills database (so tests and users keep one data folder)."""
    if configured:
        return Path(configured).expanduser()
    return Path(settings.skills.database_path).expanduser().parent / name


class Cascade:
    def __init__(self, settings: Settings, router: Router, escalator: Escalator, flywheel: Flywheel | None,
                 labels: BundleLabels, histories: Histories | None = None, tools: tuple[dict[str, Any], ...] = ()) -> None:
        self.settings = settings
        self.tools = tools if settings.llm.offer_tools else ()  # offered to the cloud with every escalated turn
        self.router = router
        self.escalator = escalator
        self.flywheel = flywheel
        self.intents = frozenset(labels.intents)
        self.histories = histories or Histories(idle_seconds=settings.router.session_idle_seconds)
        self._labeller = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llm-label")

    @classmethod
    def load(cls, settings: Settings, manifest: BundleManifest, labels: BundleLabels,
             environ: Mapping[str, str] | None = None, tools: tuple[dict[str, Any], ...] = ()) -> Cascade:
        ledger = PrivacyLedger(data_file(settings, settings.router.ledger_path, "privacy.sqlite3"))
        flywheel = None
        if settings.router.log_training_data:
            flywheel = Flywheel(data_file(settings, settings.router.flywheel_path, "flywheel.sqlite3"),
                                retention_days=settings.router.flywheel_retention_days)
        escalator = Escalator.from_settings(settings, os.environ if environ is None else environ, ledger)
        router = Router(settings.router, manifest.oos_threshold, manifest.oos_label, manifest.oos_score)
        return cls(settings, router, escalator, flywheel, labels, tools=tools)

    def close(self) -> None:
        self._labeller.shutdown(wait=True)
        self.escalator.close()
        self.escalator.ledger.close()
        if self.flywheel is not None:
            self.flywheel.close()

    def correction(self, text: str, session: str) -> str | None:
        """What the user meant, when this turn corrects the session's previous one."""
        return parse_correction(text) if self.histories.get(session).last() is not None else None

    def record_correction(self, corrected_text: str, intent: IntentResult, session: str) -> dict[str, Any]:
        previous = self.histories.get(session).last()
        label = None if intent.out_of_scope else intent.intent
        info: dict[str, Any] = {"of": previous.text if previous else None, "label": label, "flagged": False}
        if previous is not None and self.flywheel is not None:
            example = self.flywheel.record_correction(previous.text, previous.intent, corrected_text, label,
                                                     user=session)
            info.update(flagged=example.flagged, flag_reason=example.flag_reason)
        return info

    def decide(self, intent: IntentResult, session: str) -> RouteDecision:
        return self.router.decide(intent, self.histories.get(session))

    def answer(self, text: str, decision: RouteDecision, spoken: SpokenReply, mark: Callable[[str, float | None], Any],
               session: str) -> AnsweredTurn:
        """Escalate and speak the answer while it streams, with this session's recent turns as context.
        Raises only when the privacy ledger cannot be written (then nothing was sent); every LLM
        failure ends in a spoken apology instead."""
        context = self.histories.get(session).context_messages(self.settings.llm.context_turns)
        escalation = self.escalator.escalate(text, decision.reason, context, self.tools)
        answer, spoken_text = self._speak(escalation, spoken, mark)
        mark("llm_done", None)
        calls = escalation.stream.tool_calls if escalation.stream is not None else []
        card = answer_card(text, answer, self.settings.llm.spoken_max_chars) if escalation.stream is not None else None
        reply = Reply(text=spoken_text, route=escalation.route, skill=escalation.tier)
        return AnsweredTurn(reply, card, {"escalation": escalation.trace()}, answer, calls, escalation.ledger_id)

    def record_actions(self, answered: AnsweredTurn, done: list[dict[str, Any]]) -> None:
        """Add the tool calls and what the device did with them to the request's privacy-ledger row."""
        if answered.ledger_id is not None:
            self.escalator.ledger.record_tool_calls(answered.ledger_id, done)

    def _speak(self, escalation: Escalation, spoken: SpokenReply, mark) -> tuple[str, str]:
        stream = escalation.stream
        if stream is None:
            spoken.say(escalation.apology, from_markdown=False)
            return "", escalation.apology
        llm = self.settings.llm
        budget = llm.spoken_max_chars
        chunker = SpeechChunker(llm.first_piece_wait_seconds, first_max_words=llm.first_piece_max_words)
        said: list[str] = []
        for delta in stream.deltas(tick_seconds=max(0.01, llm.first_piece_wait_seconds / 4)):
            if not said and stream.first_token_at is not None:
                mark("llm_first_token", stream.first_token_at)
            for piece in chunker.feed(delta):
                if not said:
                    mark("first_piece_ready", None)
                if sum(map(len, said)) < budget and spoken.say(piece):
                    said.append(speakable(piece))
        tail = chunker.flush()
        complete = not (stream.truncated or stream.timed_out or stream.error)
        if tail and sum(map(len, said)) < budget and (complete or not said):
            if spoken.say(tail[: max(budget, 1)]):
                said.append(speakable(tail[: max(budget, 1)]))
        if not said and not stream.tool_calls:  # tool calls: the skills that run say what was done
            spoken.say(EMPTY_ANSWER_APOLOGY, from_markdown=False)
            said.append(EMPTY_ANSWER_APOLOGY)
        return stream.text, " ".join(said)

    def after_turn(self, text: str, intent: IntentResult, decision: RouteDecision, reply: Reply, answer: str = "",
                   session: str = "default") -> None:
        self.histories.get(session).add(text, answer or reply.text, intent.intent, reply.route)  # the whole answer
        if self.flywheel is None:
            return
        try:
            if decision.escalate:
                example = self.flywheel.record_turn("escalated", text, intent.intent, intent.confidence, reply.route, decision.reason, answer)
                if self.settings.llm.label_intents and reply.route == "cloud":
                    self._labeller.submit(self._label, example, text, decision.reason)
            elif intent.confidence < self.settings.router.flywheel_below_confidence:
                self.flywheel.record_turn("low-confidence", text, intent.intent, intent.confidence, reply.route, decision.reason)
        except FlywheelError:
            logger.exception("could not log the turn for training")

    def _label(self, example_id: int, text: str, reason: str) -> None:
        """Ask the cloud LLM which intent `text` is (background thread; ledger-recorded). Never raises."""
        try:
            self._ask_label(example_id, text, reason)
        except Exception:  # a background job: log everything, the speaker keeps serving
            logger.exception("labelling %r for the training log failed", text)

    def _ask_label(self, example_id: int, text: str, reason: str) -> None:
        intents = sorted(self.intents)
        redacted = redact(text) if self.settings.llm.redact else Redacted(text)
        request = LlmRequest(
            messages=(
                {"role": "system", "content": "Label requests to a smart speaker with exactly one intent name from this list, "
                 "and reply with the name only: " + ", ".join(intents)},
                {"role": "user", "content": redacted.text},
            ),
            max_tokens=16, temperature=0.0,
        )
        try:
            stream, _ = self.escalator.ask_cloud(request, "intent-label", reason, redacted.counts)
            answer = "".join(stream).strip().lower()
        except LlmError as error:
            logger.info("no intent label for %r: %s", text, error)
            return
        label = next((word for word in _LABEL.findall(answer) if word in self.intents), None)
        if label is not None and self.flywheel is not None:
            self.flywheel.set_label(example_id, label, "llm")

