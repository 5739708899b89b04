"""The one turn: audio or text in, a spoken reply out, with its trace. Every front end calls it.

    turn = Turn.load(settings)                                    # models once, shared by all sessions
    result = turn.run_text("set a timer for 5 minutes", session="chat")
    result = turn.run_audio(audio, session="kitchen", area="kitchen")   # a satellite, by its name
    result.trace.reply, result.reply_audio, result.expects_follow_up

`edge ask`, `edge run` (the live loop and the demo), `edge chat` and the Wyoming/UART bridge all
run this class; each passes a session key (the microphone, a chat, each satellite) so that
dialogue state, LLM history, pending questions and follow-up windows never cross sessions.

After the intent model, the dialogue layer reads the turn against its session (an answer to a
question the speaker asked, a yes, "cancel", "no, make it Friday", "and tomorrow?"); a turn it
claims stays on the device (`route_rule` "dialogue"). Otherwise the cascade routes it: a
confident device command goes to its skill; an out-of-scope, world-knowledge or unsure request,
is escalated to the cloud LLM (or the offline tier) and its answer
is spoken while it streams; the cloud may instead call a skill's intent as a tool, which runs here
through the dialogue (edge/runtime/actions.py). The trace says which route was taken and why.

The stages are blocking calls into loaded models: an async caller runs `Turn.run_*` in a worker
thread. A failing stage never escapes: it becomes an `Error` event, a spoken apology and the
trace's `error`.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from devices.sessions import SessionFactory
from edge.asr.factory import create_asr
from edge.asr.onnx.vocabulary import label_words, skill_words
from edge.audio.wavio import AudioInputError, RequestAudio, read_request_audio
from edge.core.events import Card, Error, Event, IntentResult, Reply, Transcript
from edge.core.settings import Settings
from edge.core.stages import MediaPlayer
from edge.core.text.normalize import normalize_utterance
from edge.core.trace import TurnTrace
from edge.dialogue import DialogueManager, Interpretation
from edge.escalation.router import RouteDecision, Router
from edge.nlu.runtime import IntentModel
from edge.runtime.actions import carry_out
from edge.runtime.alerts import Alert, AlertScheduler
from edge.runtime.cascade import Cascade
from edge.runtime.screens import cast_outcome, screen_hint
from edge.runtime.timing import TurnClock, stage_durations
from edge.skills.base import SkillReply, SkillRequest
from edge.skills.declared import SkillContext
from edge.skills.loader import load_skills
from edge.skills.registry import SkillRegistry
from edge.skills.tools import skill_tools
from edge.tts.piper import PiperTts, SpeechAudio
from edge.tts.speech import SpokenReply

if TYPE_CHECKING:  # the cast extra is optional on a speaker without screens
    from edge.cast.caster import CardCaster

logger = logging.getLogger(__name__)
turn_log = logging.getLogger("edge.turns")  # one JSON line per turn, at INFO (`-v`, or the service's journal)

DEFAULT_SESSION = "default"
SILENCE_PEAK = 10 ** (-60 / 20)  # full-scale fraction: quieter than -60 dBFS everywhere is silence
APOLOGY = "Sorry, something went wrong. Please try again."
NOT_HEARD = "Sorry, I didn't catch that."

AudioListener = Callable[[SpeechAudio], None]  # receives each piece of reply audio as it is made


@dataclass
class TurnResult:
    """Everything one turn produced. `trace` is the turn trace of DESIGN.md (edge/core/trace.py)."""

    trace: TurnTrace
    events: list[Event] = field(default_factory=list)
    reply_audio: SpeechAudio | None = None

    @property
    def error(self) -> Error | None:
        return next((event for event in self.events if isinstance(event, Error)), None)

    @property
    def expects_follow_up(self) -> bool:
        """The reply asked a question: listen again without the wake word (for `follow_up_seconds`)."""
        return self.trace.expects_follow_up

    @property
    def follow_up_seconds(self) -> float:
        return self.trace.follow_up_seconds


@dataclass
class _Request:
    """One turn in flight: its session, its trace so far and where its reply audio goes."""

    session: str
    area: str
    clock: TurnClock
    trace: TurnTrace
    on_audio: AudioListener | None
    events: list[Event] = field(default_factory=list)


class Turn:
    """ASR → intent → dialogue → router → skill or LLM → TTS. Models are loaded once, here."""

    def __init__(
        self, settings: Settings, nlu: IntentModel, skills: SkillRegistry, cascade: Cascade, dialogue: DialogueManager,
        asr=None, tts: PiperTts | None = None, skill_context: SkillContext | None = None,
        caster: CardCaster | None = None, skill_problems: list[str] | None = None,
        on_trace: Callable[[TurnTrace], None] | None = None,
    ) -> None:
        self.settings = settings
        self.skill_problems = list(skill_problems or [])  # installed skills that were skipped, with the fix
        self._nlu = nlu
        self._skills = skills
        self._cascade = cascade
        self._dialogue = dialogue
        self._asr = asr  # None: text turns only (edge chat, edge ask TEXT)
        self._tts = tts  # None: replies are not spoken (edge chat, the bridge's `handle` service)
        self._skill_context = skill_context
        self._caster = caster  # started by the caller; None: cards stay speech-only
        self._on_trace = on_trace  # told of every finished turn (edge/runtime/metrics.py counts them)
        self._interrupts: dict[str, threading.Event] = {}
        self._interrupts_lock = threading.Lock()

    @classmethod
    def load(cls, settings: Settings, with_asr: bool = True, with_tts: bool = True, clock: Callable[[], datetime] | None = None,
             caster: CardCaster | None = None, media: MediaPlayer | None = None,
             on_trace: Callable[[TurnTrace], None] | None = None) -> Turn:
        """Every model the turn needs, on this board's onnxruntime providers (devices.sessions).
        `media`: the music player the skills drive (the live loop's; None: no music on this front end).
        `on_trace`: called with each turn's trace (the metrics endpoint counts them)."""
        sessions = SessionFactory.for_device(settings.device.profile, settings.device.providers)
        loaded = load_skills(settings, clock=clock, media=media)  # built-ins and entry points; skipped ones are logged
        nlu = IntentModel.for_device(settings.nlu, settings.device, sessions=sessions)  # or its NPU
        asr = None
        if with_asr:  # the engine `asr.engine` names, its decoding biased toward the skills' words
            vocabulary = skill_words(loaded.registry.skills) | label_words(Path(nlu.bundle_dir) / "labels.json")
            asr = create_asr(settings.asr, sorted(vocabulary), sessions, domain=nlu.domain)  # the bundle's grammar
        tts = PiperTts(settings.tts, sessions) if with_tts else None
        cascade = Cascade.load(settings, nlu.manifest, nlu.labels, tools=tuple(skill_tools(loaded.registry.skills)))
        dialogue = DialogueManager(settings.dialogue, loaded.registry, loaded.context.memory, loaded.context.clock,
                                   oos_label=nlu.manifest.oos_label)
        return cls(settings, nlu, loaded.registry, cascade, dialogue, asr, tts, loaded.context, caster, loaded.problems,
                   on_trace)

    def close(self) -> None:
        self._skills.close()
        self._cascade.close()

    def __enter__(self) -> Turn:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- what the front ends call ---------------------------------------------------------

    @property
    def sample_rate(self) -> int:
        """The rate of reply audio (the voice's)."""
        if self._tts is None:
            raise RuntimeError("this turn was loaded without a voice; use Turn.load(settings, with_tts=True)")
        return self._tts.sample_rate

    # Read-only views for tools, benchmarks and tests (there are no setters: nobody patches a Turn).
    @property
    def nlu(self) -> IntentModel:
        return self._nlu

    @property
    def skills(self) -> SkillRegistry:
        return self._skills

    @property
    def dialogue(self) -> DialogueManager:
        return self._dialogue

    @property
    def cascade(self) -> Cascade:
        return self._cascade

    @property
    def skill_context(self) -> SkillContext | None:
        return self._skill_context

    def phoneme_count(self, text: str) -> int:
        """How many phonemes the voice speaks for `text` (about 55 ms each)."""
        if self._tts is None:
            raise RuntimeError("this turn was loaded without a voice; use Turn.load(settings, with_tts=True)")
        return self._tts.phoneme_count(text)

    @property
    def bundle_name(self) -> str:
        """The intent bundle's folder name (what the bridge's `describe` reports)."""
        return self._nlu.bundle_dir.name

    @property
    def skill_clock(self) -> Callable[[], datetime]:
        """The skills' clock (alarms are set and rung by it)."""
        if self._skill_context is None:
            return lambda: datetime.now().astimezone()
        return self._skill_context.clock

    def run_wav(self, path: Path, session: str = DEFAULT_SESSION, area: str = "") -> TurnResult:
        """A turn from an audio file; unreadable audio gives a trace with an error, not an exception."""
        audio_settings = self.settings.audio
        try:
            audio = read_request_audio(
                path, audio_settings.sample_rate, audio_settings.max_request_seconds, audio_settings.min_request_seconds
            )
        except AudioInputError as error:
            return self.failed(Error(text=str(error), code="bad-audio"), session, source=str(path))
        result = self.run_audio(audio, session, area)
        result.trace.input = str(path)
        if audio.truncated:
            result.trace.warnings.append(f"input cut to {audio_settings.max_request_seconds:g} s")
        return result

    def run_audio(self, audio: RequestAudio, session: str = DEFAULT_SESSION, area: str = "",
                  on_audio: AudioListener | None = None) -> TurnResult:
        """A spoken request: `on_audio` gets each piece of the reply as soon as it is made."""
        if self._asr is None:
            raise RuntimeError("this turn was loaded without ASR; use Turn.load(settings, with_asr=True)")
        request = self._begin(session, area, on_audio)
        if float(np.max(np.abs(audio.samples), initial=0.0)) < SILENCE_PEAK:
            # Whisper invents words ("Thank you.") for silence; there is nothing to hear.
            request.clock.mark("asr_done")
            return self._understand(request, Transcript(text="", audio_seconds=audio.seconds))
        try:
            transcript = self._asr.transcribe(audio.samples, audio.sample_rate)
        except Exception as error:  # a failing engine must not end the runtime
            logger.exception("ASR failed")
            return self._fail(request, Error(text=f"speech recognition failed: {error}", code="asr-failed"))
        request.clock.mark("asr_done")
        return self._understand(request, transcript)

    def run_text(self, text: str, session: str = DEFAULT_SESSION, area: str = "",
                 on_audio: AudioListener | None = None) -> TurnResult:
        request = self._begin(session, area, on_audio)
        request.clock.mark("asr_done")
        return self._understand(request, Transcript(text=text))

    def failed(self, error: Error, session: str = DEFAULT_SESSION, source: str | None = None) -> TurnResult:
        """A turn that could not start (bad input): the apology is spoken and the error traced."""
        request = self._begin(session, "", None)
        request.trace.input = source
        return self._fail(request, error)

    def interrupt(self, session: str = DEFAULT_SESSION) -> None:
        """Barge-in: stop making the reply audio of `session`'s turn in flight."""
        self._interrupt_event(session).set()

    def announce(self, alert: Alert) -> SpeechAudio:
        """The spoken alert of a timer, alarm or reminder that is due."""
        spoken = self._spoken(None)
        spoken.say(alert.text, from_markdown=False)
        return spoken.audio()

    def alert_scheduler(self, announce: Callable[[Alert], bool | None], workers: int = 1) -> AlertScheduler:
        """A scheduler over the skills' alarms and reminders (a long-running front end starts it);
        `workers`: announcements at once (one per loudspeaker that can talk at the same time)."""
        if self._skill_context is None:
            raise RuntimeError("this turn has no skills' database to read alerts from")
        return AlertScheduler(self._skill_context, announce, workers=workers)

    # --- single stages, for the bridge's Wyoming services (asr, tts, intent, handle) --------

    def transcribe(self, samples: np.ndarray, sample_rate: int = 16000) -> Transcript:
        """Float32 mono audio to text; silence is "" (Whisper is not asked to invent words)."""
        if float(np.max(np.abs(samples), initial=0.0)) < SILENCE_PEAK:
            return Transcript(text="", audio_seconds=len(samples) / sample_rate)
        if self._asr is None:
            raise RuntimeError("this turn was loaded without ASR; use Turn.load(settings, with_asr=True)")
        return self._asr.transcribe(samples, sample_rate)

    def synthesize(self, text: str) -> SpeechAudio:
        if self._tts is None:
            raise RuntimeError("this turn was loaded without a voice; use Turn.load(settings, with_tts=True)")
        return self._tts.synthesize_all(text)

    def recognize(self, text: str) -> IntentResult:
        return self._nlu.predict(text)

    def handle_intent(self, name: str, slots: dict[str, str], text: str, session: str = DEFAULT_SESSION) -> SkillReply:
        """Run the skill of an intent recognised elsewhere (Home Assistant's `intent` event)."""
        request = SkillRequest(intent=name, text=text.lower(), raw_text=text, slots=slots, session=session)
        return self._skills.handle(request)

    def has_skill(self, intent: str) -> bool:
        return self._skills.skill_for(intent) is not None

    # --- the turn -------------------------------------------------------------------------

    def _begin(self, session: str, area: str, on_audio: AudioListener | None) -> _Request:
        self._interrupt_event(session).clear()
        return _Request(session, area, TurnClock(), TurnTrace(session=session, area=area), on_audio)

    def _interrupt_event(self, session: str) -> threading.Event:
        with self._interrupts_lock:
            if session not in self._interrupts and len(self._interrupts) >= 1024:
                self._interrupts.pop(next(iter(self._interrupts)))  # forget the oldest session
            return self._interrupts.setdefault(session, threading.Event())

    def _understand(self, request: _Request, transcript: Transcript) -> TurnResult:
        request.events.append(transcript)
        request.trace.transcript = transcript.text
        if not transcript.text.strip():
            return self._finish(request, Reply(text=NOT_HEARD, route="local", skill=""), None)
        session = request.session
        # While the speaker waits for an answer, "no, I meant Friday" corrects a slot (the dialogue's
        # business), not the previous turn's intent.
        meant = None if self._dialogue.expects_follow_up(session) else self._cascade.correction(transcript.text, session)
        text = meant or transcript.text
        try:
            intent = _grammar_intent(transcript) if meant is None and transcript.intent else self._nlu.predict(text)
            if meant is None and _grammar_rejected(transcript):
                # A closed grammar (a Rhino context) heard speech that is not one of its sentences: not for this
                # bundle, whatever the intent model makes of the free transcript (the cascade may still answer it).
                intent = replace(intent, intent=self._nlu.manifest.oos_label, out_of_scope=True, slots={})
        except Exception as error:
            logger.exception("intent model failed")
            return self._fail(request, Error(text=f"intent model failed: {error}", code="nlu-failed"))
        request.clock.mark("nlu_done")
        request.events.append(intent)
        _trace_intent(request.trace, intent)
        _trace_understanding(request.trace, transcript, intent)
        if meant is not None:
            request.trace.correction = self._cascade.record_correction(meant, intent, session)
        turn = self._dialogue.interpret(intent, text, session, request.area, corrects=meant is not None)
        decision = _dialogue_decision(turn, self._cascade.router) if turn.claimed else self._decide(intent, session)
        _trace_decision(request.trace, decision)
        if decision.escalate:
            return self._escalate(request, text, intent, decision)
        # Kept local by the router, the intent is trusted; with the router off, the bundle's threshold rules.
        unsure = intent.out_of_scope and decision.rule == "router-disabled"
        answer = self._dialogue.respond(turn, out_of_scope=unsure)
        request.clock.mark("skill_done")
        request.trace.dialogue = answer.trace()
        if answer.expects_follow_up:
            request.trace.expects_follow_up, request.trace.follow_up_seconds = True, answer.follow_up_seconds
        reply = Reply(text=answer.text, route="local", skill=answer.skill)
        result = self._finish(request, reply, Card(**answer.card) if answer.card else None)
        self._cascade.after_turn(text, turn.intent, decision, reply, session=session)
        return result

    def _decide(self, intent: IntentResult, session: str) -> RouteDecision:
        """The router's decision; an intent no installed skill serves goes up the cascade too (no dead
        ends: the cloud, else the offline tier, else an apology that says why)."""
        decision = self._cascade.decide(intent, session)
        if decision.escalate or decision.rule == "router-disabled":
            return decision  # (kept local by the margin while the bundle said out of scope: its intent must be served)
        if self._skills.skill_for(intent.intent) is None:
            router = self._cascade.router
            return RouteDecision(True, "no-skill", f"no skill on this speaker serves {intent.intent}",
                                 router.threshold, router.threshold_source, router.threshold_unit)
        return decision

    def _escalate(self, request: _Request, text: str, intent: IntentResult, decision: RouteDecision) -> TurnResult:
        """Ask the cloud (or the offline tier) and speak the answer as it streams."""
        spoken = self._spoken(request)
        try:
            answered = self._cascade.answer(text, decision, spoken, request.clock.mark, request.session)
        except Exception as error:  # e.g. the privacy ledger cannot be written: then nothing was sent
            logger.exception("escalation failed")
            return self._fail(request, Error(text=f"escalation failed: {error}", code="escalation-failed"))
        request.trace.escalation = answered.trace["escalation"]
        if answered.tool_calls:
            return self._act(request, text, intent, decision, answered, spoken)
        if answered.reply.route != "local" and answered.reply.text.rstrip().endswith("?"):
            # The model asked something back ("Which city?"): listen for the answer without the wake word.
            request.trace.expects_follow_up = True
            request.trace.follow_up_seconds = self.settings.dialogue.follow_up_seconds
        result = self._finish(request, answered.reply, answered.card, spoken)
        self._cascade.after_turn(text, intent, decision, answered.reply, answered.answer, session=request.session)
        return result

    def _act(self, request: _Request, text: str, intent: IntentResult, decision: RouteDecision, answered,
             spoken: SpokenReply) -> TurnResult:
        """The cloud answered with tool calls: the skills carry them out here and say what they did."""
        acted = carry_out(self._dialogue, answered.tool_calls, text, request.session, request.area,
                          self.settings.llm.max_tool_calls)
        request.clock.mark("skill_done")
        spoken.say(acted.text, from_markdown=False)
        self._cascade.record_actions(answered, acted.records)
        if acted.reply is not None:
            request.trace.dialogue = acted.reply.trace()
            if acted.reply.expects_follow_up:  # a question or an offer: the answer needs no wake word
                request.trace.expects_follow_up, request.trace.follow_up_seconds = True, acted.reply.follow_up_seconds
        said = " ".join(part for part in (answered.reply.text, acted.text) if part)
        reply = Reply(text=said, route=answered.reply.route, skill=acted.skill or answered.reply.skill)
        result = self._finish(request, reply, Card(**acted.reply.card) if acted.reply and acted.reply.card else None, spoken)
        self._cascade.after_turn(text, intent, decision, reply, said, session=request.session)
        return result

    def _spoken(self, request: _Request | None) -> SpokenReply:
        if request is None:
            return SpokenReply(self._tts)
        return SpokenReply(
            self._tts, on_first_audio=lambda: request.clock.mark("first_reply_audio"), on_piece=request.on_audio,
            interrupted=self._interrupt_event(request.session),
        )

    def _finish(self, request: _Request, reply: Reply, card: Card | None, spoken: SpokenReply | None = None) -> TurnResult:
        """Speak `reply` (unless `spoken` already holds its audio) and complete the trace."""
        events, trace = request.events, request.trace
        events.append(reply)
        ticket = None
        if card is not None:
            events.append(card)
            if self._caster is not None:  # returns at once: delivery runs on the caster's thread
                ticket = self._caster.cast(card, hint=screen_hint(trace.transcript or ""))
        if spoken is None:
            spoken = self._spoken(request)
            spoken.say(reply.text, from_markdown=False)
        if spoken.error is not None:
            events.append(spoken.error)
        request.clock.mark("reply_audio_done")
        audio = spoken.audio() if self._tts is not None else None
        trace.route, trace.skill, trace.reply = reply.route, reply.skill, reply.text
        trace.card = None if card is None else {"title": card.title, "cast": cast_outcome(ticket)}
        trace.reply_audio_seconds = 0.0 if audio is None else round(len(audio.samples) / audio.sample_rate, 3)
        trace.timestamps_ms = request.clock.marks
        trace.stages_ms = stage_durations(request.clock.marks)
        error = next((event for event in events if isinstance(event, Error)), None)
        if error is not None:
            trace.fail(error.code, error.text)
        # One structured line per turn (the journal's record of what the speaker did, and why).
        turn_log.info("%s", json.dumps(trace.to_dict(), ensure_ascii=False, default=str))
        if self._on_trace is not None:
            try:
                self._on_trace(trace)
            except Exception:  # an observer (metrics) must never fail a turn
                logger.exception("turn observer failed")
        return TurnResult(trace=trace, events=events, reply_audio=audio)

    def _fail(self, request: _Request, error: Error) -> TurnResult:
        """A turn that could not run (bad input, a failed stage): the apology is spoken, the error traced."""
        logger.info("turn failed: %s", error.text)  # the user sees it once: in the trace, or as the CLI's one line
        request.events.append(error)
        return self._finish(request, Reply(text=APOLOGY, route="local"), None)


def _dialogue_decision(turn: Interpretation, router: Router) -> RouteDecision:
    """A turn the dialogue layer answers itself stays on the device."""
    reason = f"dialogue: {turn.kind} ({turn.intent.intent}) in a conversation the speaker is leading"
    return RouteDecision(False, "dialogue", reason, router.threshold, router.threshold_source, router.threshold_unit)


def _trace_intent(trace: TurnTrace, intent: IntentResult) -> None:
    trace.intent, trace.confidence, trace.oos_margin = intent.intent, intent.confidence, intent.oos_margin
    trace.out_of_scope, trace.slots = intent.out_of_scope, dict(intent.slots)


def _grammar_intent(transcript: Transcript) -> IntentResult:
    """The closed grammar's parse of what was heard (the ASR read it inside the bundle's grammar)."""
    return IntentResult(text=normalize_utterance(transcript.text), intent=transcript.intent, confidence=1.0,
                        slots=dict(transcript.slots))


def _grammar_rejected(transcript: Transcript) -> bool:
    return transcript.grammar is not None and not transcript.grammar.get("accepted", False)


def _trace_understanding(trace: TurnTrace, transcript: Transcript, intent: IntentResult) -> None:
    """How the bundle's domain shaped the turn: the grammar decode, and slots snapped or dropped."""
    understanding = {}
    if transcript.grammar is not None:
        understanding["grammar"] = dict(transcript.grammar)
    if intent.raw_slots:
        understanding["snapped"] = {name: {"span": span, "value": intent.slots.get(name)}
                                    for name, span in intent.raw_slots.items()}
    if intent.unsure_slots:
        understanding["unsure_slots"] = list(intent.unsure_slots)
    trace.understanding = understanding or None


def _trace_decision(trace: TurnTrace, decision: RouteDecision) -> None:
    details = decision.trace()
    trace.route_rule, trace.route_reason, trace.route_threshold = (
        details["route_rule"], details["route_reason"], details["route_threshold"])


__all__ = ["APOLOGY", "DEFAULT_SESSION", "NOT_HEARD", "SILENCE_PEAK", "Turn", "TurnResult", "screen_hint"]
