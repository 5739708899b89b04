"""The dialogue layer between the intent model and the skills: slot filling over several turns.

    dialogue = DialogueManager(settings.dialogue, loaded.registry, loaded.context.memory, clock)
    turn = dialogue.interpret(intent_result, transcript, session="kitchen")
    if not turn.claimed:                       # nothing pending matched: route as usual (may escalate)
        ...
    reply = dialogue.respond(turn)             # DialogueReply: text, card, expects_follow_up, trace()

A declared intent (YAML, edge/skills/spec.py) reaches its skill only with every required slot
filled: missing ones come from the user's remembered facts, the slot's default, or a question
("What's your budget per night?"). The answer needs no wake word (`expects_follow_up`) and is
read with the pending slot's parser first, since the intent model cannot classify "about 200
yuan". An action that costs money is offered and needs a "yes". "cancel" drops the request;
"no, make it Friday" changes one slot; "and tomorrow?" re-asks the last request with one slot
changed. Questions left unanswered expire (`pending_timeout_seconds`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from edge.core.events import IntentResult
from edge.core.settings import DialogueSettings
from edge.core.text.normalize import normalize_utterance
from edge.dialogue.interpret import Interpretation, Interpreter
from edge.dialogue.state import Frame, Session, Sessions
from edge.skills.base import SkillReply, SkillRequest
from edge.skills.matcher import SentenceMatcher, read_slot
from edge.skills.memory import Memory
from edge.skills.registry import SkillRegistry

logger = logging.getLogger(__name__)

CANCELLED = "Okay, cancelled."
NOTHING_TO_CANCEL = "Okay. There was nothing to cancel."
DECLINED = "Okay, I won't go ahead."
GAVE_UP = "Sorry, I still didn't get that, so I've stopped."
NOT_UNDERSTOOD = "Sorry, I didn't get that."


@dataclass(frozen=True)
class DialogueReply:
    text: str
    skill: str = ""
    card: dict[str, Any] | None = None
    intent: str = ""
    slots: dict[str, str] = field(default_factory=dict)
    action: str = "model"  # how the turn was read (Interpretation.kind)
    expects_follow_up: bool = False  # a question was asked: listen again without the wake word
    follow_up_seconds: float = 0.0
    asked_slot: str = ""
    confirming: bool = False
    error: str = ""

    def trace(self) -> dict[str, Any]:
        """The turn trace's `dialogue` entry."""
        trace: dict[str, Any] = {"action": self.action, "intent": self.intent, "slots": self.slots,
                                 "expects_follow_up": self.expects_follow_up}
        if self.expects_follow_up:
            trace.update(follow_up_seconds=self.follow_up_seconds, asked_slot=self.asked_slot, confirming=self.confirming)
        if self.error:
            trace["skill_error"] = self.error
        return trace


class DialogueManager:
    def __init__(self, settings: DialogueSettings, registry: SkillRegistry, memory: Memory | None,
                 clock: Callable[[], datetime], monotonic: Callable[[], float] = time.monotonic,
                 oos_label: str = "out_of_scope") -> None:
        self.settings = settings
        self.registry = registry
        self.memory = memory
        self._clock = clock
        self.sessions = Sessions(monotonic)
        self.interpreter = Interpreter(SentenceMatcher(registry.skills), settings.new_request_confidence)
        self.oos_label = oos_label

    def interpret(self, intent: IntentResult, text: str, session: str = "default", area: str = "") -> Interpretation:
        """How this utterance fits the conversation; claimed turns are the dialogue's to answer.
        `area`: the room the request came from (a satellite's), passed on to the skills."""
        state = self.sessions.get(session)
        normalized = normalize_utterance(text)
        now = self._clock()
        with state.lock:
            state.area = area or state.area
            self._expire(state)
            if state.active is not None:
                kind, slot, value = self.interpreter.during(state.active, intent, normalized, now)
                frame = state.active
            else:
                kind, slot, value = self.interpreter.fresh(self._context(state), intent, normalized, now)
                frame = self._context(state) if kind == "carry" else None
            if kind == "sentence":
                frame = self._sentence_frame(normalized, now)
            if kind == "model" and state.active is not None:
                logger.info("session %s: %r is a new request; dropped the pending %s", session, text, state.active.intent)
                state.active = None
        dialogue_intent = intent
        if frame is not None and kind != "model":
            dialogue_intent = IntentResult(text=normalized, intent=frame.intent, confidence=1.0,
                                           slots={**frame.slot_words(), **({slot: value.text} if value else {})})
        return Interpretation(session, kind, dialogue_intent, normalized, text, frame, slot, value)

    def respond(self, turn: Interpretation, out_of_scope: bool | None = None) -> DialogueReply:
        """Answer the turn: ask, confirm, cancel, or call the skill. Never raises (skills are contained).

        `out_of_scope` overrides the intent model's verdict for an unclaimed turn (the router may
        trust a low-confidence intent it kept on the device)."""
        state = self.sessions.get(turn.session)
        with state.lock:
            frame = turn.frame
            if turn.kind == "model":
                return self._model_turn(state, turn, turn.intent.out_of_scope if out_of_scope is None else out_of_scope)
            if turn.kind == "cancel":
                state.active = None
                return DialogueReply(CANCELLED if frame else NOTHING_TO_CANCEL, action="cancel",
                                     intent=frame.intent if frame else "")
            if turn.kind == "decline":
                state.active = None
                return DialogueReply(DECLINED, skill=frame.skill, action="decline", intent=frame.intent)
            if turn.kind == "reprompt":
                return self._reprompt(state, frame)
            if turn.kind == "confirm":
                return self._call(state, frame, turn, confirmed=True)
            if turn.kind == "carry":
                frame = frame.copy_with(turn.slot, turn.value)
            elif turn.kind in ("answer", "correct"):
                frame.values[turn.slot] = turn.value
                frame.pending, frame.confirming, frame.reprompts = "", False, 0
            prefix = f"Okay, {turn.value.spoken}. " if turn.kind == "correct" and turn.value else ""
            return self._advance(state, frame, turn, prefix)

    def expects_follow_up(self, session: str = "default") -> bool:
        state = self.sessions.get(session)
        with state.lock:
            self._expire(state)
            return state.active is not None

    # internals (the session lock is held)
    def _advance(self, state: Session, frame: Frame, turn: Interpretation, prefix: str = "") -> DialogueReply:
        self._fill_from_memory(frame, turn)
        missing = frame.missing()
        frame.updated = self.sessions.now()
        if missing:
            frame.pending = missing[0]
            state.active = frame
            return self._question(frame, turn.kind, prefix + self._ask_text(frame, missing[0]))
        return self._call(state, frame, turn, confirmed=False, prefix=prefix)

    def _call(self, state: Session, frame: Frame, turn: Interpretation, confirmed: bool, prefix: str = "") -> DialogueReply:
        request = SkillRequest(
            intent=frame.intent, text=frame.text or turn.text, raw_text=turn.raw_text,
            slots={**turn.intent.slots, **frame.slot_words()}, now=self._clock(), values=dict(frame.values),
            user=self.settings.user, confirmed=confirmed, state=dict(frame.state), session=state.id, area=state.area,
        )
        reply = self.registry.handle(request)
        frame.updated = self.sessions.now()
        if reply.error or reply.skill != frame.skill:
            state.active = None
        elif reply.confirm and not confirmed:
            frame.confirming, frame.state, frame.pending = True, dict(reply.state), ""
            state.active = frame
        elif reply.ask_slot and reply.ask_slot in frame.spec.slots:
            frame.values.pop(reply.ask_slot, None)
            frame.pending, frame.confirming = reply.ask_slot, False
            state.active = frame
        else:
            state.active = None
            state.last, state.last_at = frame, self.sessions.now()
        return self._reply(frame, turn.kind, reply, prefix)

    def _model_turn(self, state: Session, turn: Interpretation, out_of_scope: bool) -> DialogueReply:
        intent = turn.intent
        skill = None if out_of_scope else self.registry.skill_for(intent.intent)
        spec = skill.spec.intents.get(intent.intent) if skill is not None and skill.spec is not None else None
        if spec is not None:
            frame = Frame(spec, skill.name, text=turn.text)
            now = self._clock()
            # The model tags a slot with the name `model_slots` maps it to, else with the skill's own slot
            # name (a bundle rebuilt with the skill's examples, see edge/skills/examples.py).
            said = {name: intent.slots.get(spec.model_slots.get(name, name), "") for name in spec.slots}
            said.update(skill.slot_words(intent.intent, turn.text))
            for name, words in said.items():
                value = read_slot(spec.slots[name], words.split(), now) if words and name in spec.slots else None
                if value is not None:
                    frame.values[name] = value
            return self._advance(state, frame, turn)
        request = SkillRequest(intent=self.oos_label if out_of_scope else intent.intent, text=intent.text or turn.text,
                               raw_text=turn.raw_text, slots=dict(intent.slots), now=self._clock(), user=self.settings.user,
                               session=state.id, area=state.area)
        reply = self.registry.handle(request)
        state.last = None  # "and tomorrow?" no longer refers to an older request
        return DialogueReply(reply.text, skill=reply.skill, card=reply.card, intent=request.intent,
                             slots=dict(intent.slots), action="model", error=reply.error)

    def _fill_from_memory(self, frame: Frame, turn: Interpretation) -> None:
        now = self._clock()
        for name, slot in frame.spec.slots.items():
            if name in frame.values:
                continue
            remembered = self.memory.fact(self.settings.user, slot.memory) if self.memory and slot.memory else None
            for words in (remembered, slot.default):
                value = read_slot(slot, normalize_utterance(words).split(), now) if words else None
                if value is not None:
                    frame.values[name] = value
                    break

    def _reprompt(self, state: Session, frame: Frame) -> DialogueReply:
        frame.reprompts += 1
        frame.updated = self.sessions.now()
        if frame.reprompts > self.settings.max_reprompts:
            state.active = None
            return DialogueReply(GAVE_UP, skill=frame.skill, intent=frame.intent, action="reprompt")
        if frame.confirming:
            return self._question(frame, "reprompt", f"{NOT_UNDERSTOOD} Please say yes or no.")
        return self._question(frame, "reprompt", f"{NOT_UNDERSTOOD} {self._ask_text(frame, frame.pending)}")

    def _question(self, frame: Frame, action: str, text: str) -> DialogueReply:
        return DialogueReply(text, skill=frame.skill, intent=frame.intent, slots=frame.slot_words(), action=action,
                             expects_follow_up=True, follow_up_seconds=self.settings.follow_up_seconds,
                             asked_slot=frame.pending, confirming=frame.confirming)

    def _reply(self, frame: Frame, action: str, reply: SkillReply, prefix: str) -> DialogueReply:
        asking = reply.expects_follow_up and not reply.error
        return DialogueReply(prefix + reply.text, skill=reply.skill, card=reply.card, intent=frame.intent,
                             slots=frame.slot_words(), action=action, expects_follow_up=asking,
                             follow_up_seconds=self.settings.follow_up_seconds if asking else 0.0,
                             asked_slot=frame.pending if asking else "", confirming=frame.confirming and asking,
                             error=reply.error)

    def _ask_text(self, frame: Frame, slot: str) -> str:
        question = frame.spec.slots[slot].ask
        for name, value in frame.values.items():
            question = question.replace("{" + name + "}", value.spoken)
        return question

    def _sentence_frame(self, text: str, now: datetime) -> Frame | None:
        found = self.interpreter.match(text, now)
        skill = self.registry.skill_for(found.intent) if found else None
        if found is None or skill is None or skill.spec is None:
            return None
        return Frame(skill.spec.intents[found.intent], skill.name, dict(found.values), text=text)

    def _context(self, state: Session) -> Frame | None:
        fresh = state.last is not None and self.sessions.now() - state.last_at <= self.settings.context_seconds
        return state.last if fresh and state.last.spec.context else None

    def _expire(self, state: Session) -> None:
        frame = state.active
        if frame is not None and self.sessions.now() - frame.updated > self.settings.pending_timeout_seconds:
            logger.info("session %s: dropped the unanswered %s request after %.0f s", state.id, frame.intent,
                        self.settings.pending_timeout_seconds)
            state.active = None
