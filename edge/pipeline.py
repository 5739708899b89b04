"""One turn: audio or text in, spoken reply out, with a trace of what happened and when.

After the intent model, the cascade (edge/cascade.py) routes the turn: a confident device
command goes to its skill; an out-of-scope, world-knowledge or unsure request is escalated to
the cloud LLM (or the offline tier) and its answer is spoken while it streams. The trace says
which route was taken and why (`route`, `route_rule`, `route_reason`).

Before routing, the dialogue layer (edge/conversation) reads the turn against the session: an
answer to a question the speaker asked ("about 200 yuan"), a yes to an offer, "cancel", "no, make
it Friday", "and tomorrow?", or a skill's declared sentence is the dialogue's own (`route_rule`
"dialogue") and is never escalated. The trace's `dialogue` entry says how the turn was read and
whether the reply asked a question (`expects_follow_up`: listen again without the wake word).

The stages are blocking calls into loaded models; an async caller runs `Pipeline.run_*` in a
worker thread (`await asyncio.to_thread(pipeline.run_audio, audio)`). A failing stage never
escapes: it becomes an `Error` event, a spoken apology and an `error` entry in the trace.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edge.asr import WhisperAsr, create_asr
from edge.asr_onnx.vocabulary import label_words, skill_words
from edge.audio.wavio import AudioInputError, RequestAudio, read_request_audio
from edge.cascade import Cascade
from edge.conversation import DialogueManager, Interpretation
from edge.events import Card, Error, Event, IntentResult, Reply, Transcript
from edge.nlu.runtime import IntentModel
from edge.router import RouteDecision, Router
from edge.settings import Settings
from edge.skills import SkillRegistry
from edge.skills.alerts import Alert
from edge.skills.declared import SkillContext
from edge.skills.loader import load_skills
from edge.speech import SpokenReply
from edge.tts import PiperTts, SpeechAudio

if TYPE_CHECKING:  # the cast extra is optional on a speaker without screens
    from edge.cast.caster import CardCaster

logger = logging.getLogger(__name__)

SILENCE_PEAK = 10 ** (-60 / 20)  # full-scale fraction: quieter than -60 dBFS everywhere is silence
APOLOGY = "Sorry, something went wrong. Please try again."
NOT_HEARD = "Sorry, I didn't catch that."


@dataclass
class TurnResult:
    """Everything one turn produced. `trace` is the JSON turn trace of DESIGN.md."""

    trace: dict[str, Any]
    events: list[Event] = field(default_factory=list)
    reply_audio: SpeechAudio | None = None

    @property
    def error(self) -> Error | None:
        return next((event for event in self.events if isinstance(event, Error)), None)

    @property
    def expects_follow_up(self) -> bool:
        """The reply asked a question: the live loop should listen again without the wake word."""
        return bool(self.trace.get("dialogue", {}).get("expects_follow_up"))


class _TurnClock:
    """Milliseconds since the end of the request (end of speech, or the text arriving)."""

    def __init__(self) -> None:
        self._start = time.perf_counter()
        self.marks: dict[str, float] = {"end_of_speech": 0.0}

    def mark(self, name: str, at: float | None = None) -> float:
        """Record `name` now, or at `at` (a time.perf_counter() value)."""
        self.marks[name] = round(((time.perf_counter() if at is None else at) - self._start) * 1000, 2)
        return self.marks[name]


class Pipeline:
    """The turn: ASR → intent → router → skill or LLM → TTS. Models are loaded once, here."""

    def __init__(
        self, settings: Settings, asr: WhisperAsr | None, nlu: IntentModel, skills: SkillRegistry, tts: PiperTts,
        cascade: Cascade | None = None, dialogue: DialogueManager | None = None, skill_context: SkillContext | None = None,
        caster: CardCaster | None = None,
    ):
        self.settings = settings
        self.caster = caster  # started by the caller; None: cards stay speech-only
        self.asr = asr
        self.nlu = nlu
        self.skills = skills
        self.tts = tts
        self.cascade = cascade or Cascade.load(settings, nlu.manifest, nlu.labels)
        self.skill_context = skill_context  # the skills' clock, database and memory (for an AlertScheduler)
        self.dialogue = dialogue or DialogueManager(
            settings.dialogue, skills, skill_context.memory if skill_context else None,
            skill_context.clock if skill_context else (lambda: datetime.now().astimezone()),
            oos_label=nlu.manifest.oos_label,
        )

    @classmethod
    def load(
        cls, settings: Settings, with_asr: bool = True, clock: Callable | None = None, caster: CardCaster | None = None,
    ) -> Pipeline:
        loaded = load_skills(settings, clock=clock)  # built-ins and entry points; skipped ones are logged
        nlu = IntentModel.for_device(settings.nlu, settings.device)  # the board's providers, or its NPU
        asr = None
        if with_asr:  # the engine `asr.engine` names, its decoding biased toward the skills' words
            vocabulary = skill_words(loaded.registry.skills) | label_words(Path(nlu.bundle_dir) / "labels.json")
            asr = create_asr(settings.asr, sorted(vocabulary))
        return cls(settings, asr, nlu, loaded.registry, PiperTts(settings.tts), skill_context=loaded.context, caster=caster)

    def close(self) -> None:
        self.skills.close()
        self.cascade.close()

    def run_wav(self, path: Path) -> TurnResult:
        """A turn from an audio file; unreadable audio gives a trace with an error, not an exception."""
        audio_settings = self.settings.audio
        try:
            audio = read_request_audio(
                path, audio_settings.sample_rate, audio_settings.max_request_seconds, audio_settings.min_request_seconds
            )
        except AudioInputError as error:
            return self.failed_turn({"input": str(path)}, Error(text=str(error), code="bad-audio"))
        result = self.run_audio(audio)
        result.trace["input"] = str(path)
        if audio.truncated:
            result.trace["warnings"] = [f"input cut to {audio_settings.max_request_seconds:g} s"]
        return result

    def announce(self, alert: Alert) -> SpeechAudio:
        """The spoken alert of a timer, alarm or reminder that is due (see edge/skills/alerts.py)."""
        spoken = SpokenReply(self.tts)
        spoken.say(alert.text, from_markdown=False)
        return spoken.audio()

    def run_audio(self, audio: RequestAudio, session: str = "default") -> TurnResult:
        if self.asr is None:
            raise RuntimeError("this pipeline was loaded without ASR; use Pipeline.load(settings, with_asr=True)")
        clock = _TurnClock()
        if float(np.max(np.abs(audio.samples), initial=0.0)) < SILENCE_PEAK:
            # Whisper invents words ("Thank you.") for silence; there is nothing to hear.
            clock.mark("asr_done")
            return self._understand_and_answer(Transcript(text="", audio_seconds=audio.seconds), clock, session)
        try:
            transcript = self.asr.transcribe(audio.samples, audio.sample_rate)
        except Exception as error:  # a failing engine must not end the runtime
            logger.exception("ASR failed")
            return self.failed_turn({}, Error(text=f"speech recognition failed: {error}", code="asr-failed"), clock)
        clock.mark("asr_done")
        return self._understand_and_answer(transcript, clock, session)

    def run_text(self, text: str, session: str = "default") -> TurnResult:
        clock = _TurnClock()
        clock.mark("asr_done")
        return self._understand_and_answer(Transcript(text=text), clock, session)

    def _understand_and_answer(self, transcript: Transcript, clock: _TurnClock, session: str = "default") -> TurnResult:
        events: list[Event] = [transcript]
        if not transcript.text.strip():
            reply = Reply(text=NOT_HEARD, route="local", skill="")
            return self._speak({"transcript": ""}, events, reply, None, clock)
        # While the speaker waits for an answer, "no, I meant Friday" corrects a slot (the dialogue's business),
        # not the previous turn's intent.
        meant = None if self.dialogue.expects_follow_up(session) else self.cascade.correction(transcript.text)
        request_text = meant or transcript.text
        try:
            intent = self.nlu.predict(request_text)
        except Exception as error:
            logger.exception("intent model failed")
            return self.failed_turn({"transcript": transcript.text}, Error(text=f"intent model failed: {error}", code="nlu-failed"), clock, events)
        clock.mark("nlu_done")
        events.append(intent)
        trace = _intent_trace(transcript, intent)
        if meant is not None:
            trace["correction"] = self.cascade.record_correction(meant, intent)
        turn = self.dialogue.interpret(intent, request_text, session)
        decision = _dialogue_decision(turn, self.cascade.router) if turn.claimed else self.cascade.decide(intent)
        trace.update(decision.trace())
        if decision.escalate:
            return self._escalate(request_text, intent, decision, trace, events, clock)
        # Kept local by the router, the intent is trusted; with the router off, the bundle's threshold rules.
        unsure = intent.out_of_scope and decision.rule == "router-disabled"
        answer = self.dialogue.respond(turn, out_of_scope=unsure)
        clock.mark("skill_done")
        trace["dialogue"] = answer.trace()
        reply = Reply(text=answer.text, route="local", skill=answer.skill)
        card = Card(**answer.card) if answer.card else None
        result = self._speak(trace, events, reply, card, clock)
        self.cascade.after_turn(request_text, turn.intent, decision, reply)
        return result

    def _escalate(
        self, text: str, intent: IntentResult, decision: RouteDecision, trace: dict[str, Any], events: list[Event], clock: _TurnClock,
    ) -> TurnResult:
        """Ask the cloud (or the offline tier) and speak the answer as it streams."""
        spoken = SpokenReply(self.tts, on_first_audio=lambda: clock.mark("first_reply_audio"))
        try:
            answered = self.cascade.answer(text, decision, spoken, clock.mark)
        except Exception as error:  # e.g. the privacy ledger cannot be written: then nothing is sent
            logger.exception("escalation failed")
            return self.failed_turn(trace, Error(text=f"escalation failed: {error}", code="escalation-failed"), clock, events)
        trace.update(answered.trace)
        result = self._speak(trace, events, answered.reply, answered.card, clock, spoken)
        self.cascade.after_turn(text, intent, decision, answered.reply, answered.answer)
        return result

    def _speak(
        self, trace: dict[str, Any], events: list[Event], reply: Reply, card: Card | None, clock: _TurnClock,
        spoken: SpokenReply | None = None,
    ) -> TurnResult:
        """Finish the turn: speak `reply` (unless `spoken` already holds its audio) and complete the trace."""
        events.append(reply)
        ticket = None
        if card is not None:
            events.append(card)
            if self.caster is not None:  # returns at once: delivery runs on the caster's thread
                ticket = self.caster.cast(card, hint=screen_hint(trace.get("transcript") or ""))
        if spoken is None:
            spoken = SpokenReply(self.tts, on_first_audio=lambda: clock.mark("first_reply_audio"))
            spoken.say(reply.text, from_markdown=False)
        if spoken.error is not None:
            events.append(spoken.error)
        clock.mark("reply_audio_done")
        audio = spoken.audio()
        trace.update(
            route=reply.route,
            skill=reply.skill,
            reply=reply.text,
            card=None if card is None else {"title": card.title, "cast": _cast_outcome(ticket)},
            reply_audio_seconds=round(len(audio.samples) / audio.sample_rate, 3),
            timestamps_ms=clock.marks,
            stages_ms=_stage_durations(clock.marks),
        )
        error = next((event for event in events if isinstance(event, Error)), None)
        if error is not None:
            trace["error"] = {"code": error.code, "text": error.text}
        return TurnResult(trace=trace, events=events, reply_audio=audio)

    def failed_turn(self, trace: dict[str, Any], error: Error, clock: _TurnClock | None = None, events: list[Event] | None = None) -> TurnResult:
        """A turn that could not run (bad input, a failed stage): the apology is spoken, the error traced."""
        logger.info("turn failed: %s", error.text)  # the user sees it once: in the trace, or as the CLI's one line
        events = [*(events or []), error]
        return self._speak({"transcript": trace.pop("transcript", None), **trace}, events, Reply(text=APOLOGY, route="local"), None, clock or _TurnClock())


_SCREEN_REQUEST = re.compile(r"\b(?:show|put|cast|display|send)\b.*?\b(?:on|to|in)\s+(?:the\s+|my\s+)?(.+?)[.!?]*$", re.I)


def screen_hint(transcript: str) -> str | None:
    """'show my shopping list on the kitchen tv' -> 'kitchen tv'; None when no screen is asked for."""
    match = _SCREEN_REQUEST.search(transcript)
    return match.group(1) if match else None


CAST_TRACE_WAIT_SECONDS = 1.0  # after the reply audio is made, wait this long to learn where the card went


def _cast_outcome(ticket) -> dict[str, Any]:
    if ticket is None:
        return {"screen": None, "status": "speech-only", "reason": "casting is off (no screen caster running)"}
    return ticket.outcome(timeout=CAST_TRACE_WAIT_SECONDS)


def _dialogue_decision(turn: Interpretation, router: Router) -> RouteDecision:
    """A turn the dialogue layer answers itself stays on the device."""
    reason = f"dialogue: {turn.kind} ({turn.intent.intent}) in a conversation the speaker is leading"
    return RouteDecision(False, "dialogue", reason, router.threshold, router.threshold_source, router.threshold_unit)


def _intent_trace(transcript: Transcript, intent: IntentResult) -> dict[str, Any]:
    return {
        "transcript": transcript.text,
        "intent": intent.intent,
        "confidence": intent.confidence,
        "oos_margin": intent.oos_margin,
        "out_of_scope": intent.out_of_scope,
        "slots": intent.slots,
    }


_STAGES = (
    ("asr", "end_of_speech", "asr_done"), ("nlu", "asr_done", "nlu_done"), ("skill", "nlu_done", "skill_done"),
    ("tts", "skill_done", "reply_audio_done"), ("llm_first_token", "nlu_done", "llm_first_token"),
    ("first_token_to_first_audio", "llm_first_token", "first_reply_audio"), ("llm_answer", "nlu_done", "llm_done"),
    ("first_piece_wait", "llm_first_token", "first_piece_ready"), ("first_piece_tts", "first_piece_ready", "first_reply_audio"),
)


def _stage_durations(marks: dict[str, float]) -> dict[str, float]:
    durations = {name: round(marks[end] - marks[start], 2) for name, start, end in _STAGES if start in marks and end in marks}
    if "first_reply_audio" in marks:
        durations["end_of_speech_to_first_audio"] = marks["first_reply_audio"]
    return durations
