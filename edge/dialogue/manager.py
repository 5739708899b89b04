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
"no, make it Friday" changes one slot; "and tomorrow?", "what about Paris" or "and butter too"
re-run the last request with one slot changed. Questions left unanswered expire
(`pending_timeout_seconds`).

What the skills' replies created or talked about is kept per session (`SkillReply.mentions`), so
"cancel it", "how long is left on the egg timer", "turn them off", "no, half past six instead" or
"the other one" reach the right skill with the thing meant (edge/dialogue/resolve.py). A bare
"yes" or "no" with nothing pending, or "thanks", gets a short answer here.
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
from edge.dialogue.answers import bare_yes_or_no
from edge.dialogue.interpret import Interpretation, Interpreter
from edge.dialogue.references import additive, is_again, is_thanks
from edge.dialogue.resolve import Resolved, Resolver
from edge.dialogue.state import Frame, Session, Sessions
from edge.skills.base import Mention, SkillReply, SkillRequest
from edge.skills.matcher import SentenceMatcher, read_slot, take_counts
from edge.skills.memory import Memory
from edge.skills.registry import SkillRegistry
from edge.skills.slots import SlotValue
from edge.skills.tools import tool_arguments

logger = logging.getLogger(__name__)

CANCELLED = "Okay, cancelled."
NOTHING_TO_CANCEL = "Okay. There was nothing to cancel."
DECLINED = "Okay, I won't go ahead."
GAVE_UP = "Sorry, I still didn't get that, so I've stopped."
NOT_UNDERSTOOD = "Sorry, I didn't get that."
NOTHING_ASKED = "I wasn't asking anything just then. What can I do for you?"
TIMED_OUT = "Sorry, I waited too long for your answer, so I didn't go ahead. Please ask again."
NO_PROBLEM = "Okay."
WELCOME = "You're welcome."


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
        self.resolver = Resolver(registry, settings)
        self.oos_label = oos_label

    def interpret(self, intent: IntentResult, text: str, session: str = "default", area: str = "",
                  corrects: bool = False) -> Interpretation:
        """How this utterance fits the conversation; claimed turns are the dialogue's to answer.
        `area`: the room the request came from (a satellite's), passed on to the skills. `corrects`: the
        user said "no, I meant …" and `text` is what they meant (it may correct what was just done)."""
        state = self.sessions.get(session)
        normalized = normalize_utterance(text)
        now = self._clock()
        with state.lock:
            state.area = area or state.area
            state.turn += 1
            self._expire(state)
            if state.active is not None:
                kind, slot, value = self.interpreter.during(state.active, intent, normalized, now)
                frame, resolved = state.active, None
            else:
                kind, slot, value, frame, resolved = self._fresh(state, intent, normalized, now, corrects)
            if kind == "sentence":
                frame = self._sentence_frame(normalized, now)
            if kind == "model" and state.active is not None:
                logger.info("session %s: %r is a new request; dropped the pending %s", session, text, state.active.intent)
                state.active = None
            state.answered = False  # until respond() answers it (an escalated turn is never answered here)
        dialogue_intent = intent
        if frame is not None and kind != "model":
            dialogue_intent = IntentResult(text=normalized, intent=frame.intent, confidence=1.0,
                                           slots={**frame.slot_words(), **({slot: value.text} if value else {})})
        return Interpretation(session, kind, dialogue_intent, normalized, text, frame, slot, value, resolved)

    def _fresh(self, state: Session, intent: IntentResult, text: str, now: datetime, corrects: bool = False) -> tuple:
        """(kind, slot, value, frame, resolved) with nothing pending: a declared sentence, a reference to a
        recent thing, a follow-up of the last request, a bare yes/no, or the intent model's turn."""
        matched = self.interpreter.match(text, now) is not None
        resolved = None if matched else self.resolver.resolve(state, intent, text, self.sessions.now(), now, corrects)
        if resolved is not None:
            frame = self._resolved_frame(resolved, text) if resolved.kind == "refer" else None
            return resolved.kind, "", None, frame, resolved
        context = self._context(state)
        if is_again(text) and (context is not None or state.last_other is not None):
            return "again", "", None, context, None  # "another one": the last request once more
        kind, slot, value = self.interpreter.fresh(context, intent, text, now)
        if kind == "model" and (is_thanks(text) or state.answered and bare_yes_or_no(text) is not None):
            kind = "social"  # (after an LLM's answer, "yes" answers the LLM: the router sends it there)
        return kind, slot, value, (context if kind == "carry" else None), None

    def respond(self, turn: Interpretation, out_of_scope: bool | None = None) -> DialogueReply:
        """Answer the turn: ask, confirm, cancel, or call the skill. Never raises (skills are contained).

        `out_of_scope` overrides the intent model's verdict for an unclaimed turn (the router may
        trust a low-confidence intent it kept on the device)."""
        state = self.sessions.get(turn.session)
        with state.lock:
            state.answered = True
            frame = turn.frame
            if turn.kind == "model":
                return self._model_turn(state, turn, turn.intent.out_of_scope if out_of_scope is None else out_of_scope)
            if turn.kind in ("cancel", "decline", "social", "choose"):
                return self._short_answer(state, turn)
            if turn.kind in ("refer", "again", "other"):
                return self._follow(state, frame, turn)
            if turn.kind == "reprompt":
                return self._reprompt(state, frame)
            if turn.kind == "confirm":
                return self._call(state, frame, turn, confirmed=True)
            if turn.kind == "carry":
                frame = frame.copy_with(turn.slot, turn.value)
            elif turn.kind in ("answer", "correct"):
                frame.values[turn.slot] = turn.value
                frame.pending, frame.confirming, frame.reprompts = "", False, 0
            frame.values.update(self._also_said(frame, turn))
            prefix = f"Okay, {turn.value.spoken}. " if turn.kind == "correct" and turn.value else ""
            return self._advance(state, frame, turn, prefix)

    def _follow(self, state: Session, frame: Frame | None, turn: Interpretation) -> DialogueReply:
        """A turn about what came before: a reference ("cancel it"), "another one", "not that one" to an offer."""
        if turn.kind == "refer":
            return self._refer(state, frame, turn)
        if turn.kind == "other":  # the skill offers the next one
            frame.state = {**frame.state, "declined": [*frame.state.get("declined", []), frame.state.get("offer", "")]}
            return self._call(state, frame, turn, confirmed=False)
        if frame is None:  # "tell me another one": the last request no declared intent took, once more
            name, text = state.last_other
            again = IntentResult(text=text, intent=name, confidence=1.0)
            return self._model_turn(state, Interpretation(turn.session, "again", again, text, turn.raw_text), False)
        return self._advance(state, Frame(frame.spec, frame.skill, dict(frame.values), text=frame.text), turn)

    def _short_answer(self, state: Session, turn: Interpretation) -> DialogueReply:
        """Cancel, decline, "which one?", and a bare yes, no or thanks with nothing pending."""
        frame = turn.frame
        if turn.kind == "cancel":
            state.active = None
            return DialogueReply(CANCELLED if frame else NOTHING_TO_CANCEL, action="cancel", intent=frame.intent if frame else "")
        if turn.kind == "decline":
            state.active = None
            return DialogueReply(DECLINED, skill=frame.skill, action="decline", intent=frame.intent)
        if turn.kind == "choose":
            resolved: Resolved = turn.resolved
            state.choice = (resolved.verb, resolved.candidates, self.sessions.now())
            names = [entity.mention.name or entity.mention.kind for entity in resolved.candidates]
            return DialogueReply(f"Which one: {', '.join(f'the {name}' for name in names[:-1])} or the {names[-1]}?",
                                 skill=resolved.candidates[0].skill, intent=resolved.intent, action="choose",
                                 expects_follow_up=True, follow_up_seconds=self.settings.follow_up_seconds)
        if is_thanks(turn.text):
            return DialogueReply(WELCOME, action="social")
        if bare_yes_or_no(turn.text):
            dropped, state.dropped = state.dropped, None
            if dropped is not None:
                return DialogueReply(TIMED_OUT, skill=dropped.skill, intent=dropped.intent, action="social")
            return DialogueReply(NOTHING_ASKED, action="social", expects_follow_up=True,
                                 follow_up_seconds=self.settings.follow_up_seconds)
        state.dropped = None
        return DialogueReply(NO_PROBLEM, action="social")

    def _refer(self, state: Session, frame: Frame, turn: Interpretation) -> DialogueReply:
        """Act on the recent thing a reference meant (each of them, for "both")."""
        resolved: Resolved = turn.resolved
        state.recent.last_meant, state.recent.last_verb = resolved.entity, resolved.verb or state.recent.last_verb
        entities = resolved.candidates or (resolved.entity,)
        replies = []
        for entity in entities:
            acting = frame if entity is resolved.entity else self._resolved_frame(
                Resolved("refer", resolved.intent, resolved.verb, entity, {}), turn.text)
            replies.append(self._advance(state, acting, turn))
            if resolved.verb == "cancel" and not replies[-1].error:
                state.recent.forget(entity)
        if len(replies) == 1:
            return replies[0]
        first = replies[0]
        return DialogueReply(" ".join(reply.text for reply in replies), skill=first.skill, intent=first.intent,
                             slots=first.slots, action="refer", error=next((r.error for r in replies if r.error), ""))

    def act(self, intent: str, arguments: dict[str, Any], text: str, session: str = "default", area: str = "") -> DialogueReply:
        """Carry out a tool call of the cloud LLM (edge/skills/tools.py): the intent with the model's arguments
        read as slot values, through the same rules as a spoken request (a missing slot is asked for, an
        action that costs money waits for the user's yes, what it created can be referred to next)."""
        state = self.sessions.get(session)
        skill = self.registry.skill_for(intent)
        spec = skill.spec.intents.get(intent) if skill is not None and skill.spec is not None else None
        if spec is None:
            return DialogueReply(f"Sorry, I can't do {intent.replace('_', ' ')} on this speaker.", action="tool",
                                 intent=intent, error=f"the LLM called {intent!r}, which no installed skill declares")
        normalized = normalize_utterance(text)
        with state.lock:
            state.area = area or state.area
            state.answered, state.active = True, None
            frame = Frame(spec, skill.name, tool_arguments(spec, arguments, self._clock()), text=normalized)
            turn = Interpretation(session, "tool", IntentResult(text=normalized, intent=intent, confidence=1.0,
                                                                slots=frame.slot_words()), normalized, text, frame)
            return self._advance(state, frame, turn)

    def expects_follow_up(self, session: str = "default") -> bool:
        state = self.sessions.get(session)
        with state.lock:
            self._expire(state)
            return state.active is not None

    # internals (the session lock is held)
    def _advance(self, state: Session, frame: Frame, turn: Interpretation, prefix: str = "") -> DialogueReply:
        self._fill_from_context(state, frame, turn)
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
            target=frame.target,
        )
        reply = self.registry.handle(request)
        frame.updated = self.sessions.now()
        self._remember(state, reply, frame.intent, frame.spec.slots, frame.values)
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
            state.active, state.last_other = None, None
            state.last, state.last_at = frame, self.sessions.now()
        return self._reply(frame, turn.kind, reply, prefix, self._choice(state, reply, frame.intent))

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
            rest, counted = take_counts(spec, turn.text.split(), now)  # "for two nights": never a budget of 2
            left = f" {' '.join(rest)} "
            for name, words in said.items():
                if not words or name not in spec.slots or name in counted or f" {words} " not in left and counted:
                    continue  # (words the intent model tagged inside a count phrase belong to the count)
                value = read_slot(spec.slots[name], words.split(), now)
                if value is not None:
                    frame.values[name] = value
            frame.values.update(counted)
            return self._advance(state, frame, turn)
        request = SkillRequest(intent=self.oos_label if out_of_scope else intent.intent, text=intent.text or turn.text,
                               raw_text=turn.raw_text, slots=dict(intent.slots), now=self._clock(), user=self.settings.user,
                               session=state.id, area=state.area)
        reply = self.registry.handle(request)
        state.last = None  # "and tomorrow?" no longer refers to an older request
        state.last_other = (request.intent, request.text) if reply.skill != "fallback" and not reply.error else None
        self._remember(state, reply, request.intent)
        return DialogueReply(reply.text, skill=reply.skill, card=reply.card, intent=request.intent,
                             slots=dict(intent.slots), action="model", error=reply.error,
                             **self._choice(state, reply, request.intent))

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

    def _reply(self, frame: Frame, action: str, reply: SkillReply, prefix: str, choice: dict[str, Any]) -> DialogueReply:
        asking = reply.expects_follow_up and not reply.error
        follow_up = {"expects_follow_up": True, "follow_up_seconds": self.settings.follow_up_seconds} if asking else choice
        return DialogueReply(prefix + reply.text, skill=reply.skill, card=reply.card, intent=frame.intent,
                             slots=frame.slot_words(), action=action, asked_slot=frame.pending if asking else "",
                             confirming=frame.confirming and asking, error=reply.error, **follow_up)

    def _choice(self, state: Session, reply: SkillReply, intent: str) -> dict[str, Any]:
        """A skill's own "which one?" listing several things ("Which timer should I remove? You have 2…"):
        the answer ("the first one", "the egg one", "both") picks among them, without the wake word."""
        state.choice = None
        if reply.error or reply.expects_follow_up or len(reply.mentions) < 2 or "?" not in reply.text:
            return {}
        verb = next((verb for verb, action in reply.mentions[0].actions.items() if action == intent), "")
        if not verb:
            return {}
        entities = tuple(entity for entity in state.recent.items(self.sessions.now(), self.settings.context_seconds)
                         if entity.turn == state.turn and entity.skill == reply.skill)
        state.choice = (verb, entities, self.sessions.now())
        return {"expects_follow_up": True, "follow_up_seconds": self.settings.follow_up_seconds}

    def _remember(self, state: Session, reply: SkillReply, intent: str, slots: dict | None = None,
                  values: dict | None = None) -> None:
        """Keep what the reply created or talked about, and the places the request was about."""
        if reply.error:
            return
        places = [Mention("place", name=str(value.value), slots={name: value.text})
                  for name, value in (values or {}).items() if slots and name in slots and slots[name].type == "place"]
        if reply.mentions:
            state.recent.add(reply.mentions, reply.skill, intent, self.sessions.now(), state.turn)
        if places:
            state.recent.add(places, "", intent, self.sessions.now(), state.turn)

    def _resolved_frame(self, resolved: Resolved, text: str) -> Frame:
        """The request a reference makes: the thing's action intent, its slots, the thing as the target."""
        entity = resolved.entity
        spec = self.resolver.spec(resolved.intent)
        skill = self.registry.skill_for(resolved.intent)
        return Frame(spec, skill.name if skill is not None else entity.skill, dict(resolved.values or {}), text=text,
                     target=entity.mention.ref if resolved.intent in entity.mention.actions.values() else "")

    def _also_said(self, frame: Frame, turn: Interpretation) -> dict[str, SlotValue]:
        """What an answer says besides the slot asked: "Friday, for two nights" (a count), "seven fifteen
        tomorrow morning" (a day) fill those slots too when they are still empty."""
        now, words = self._clock(), turn.text.split()
        found = {name: value for name, value in take_counts(frame.spec, words, now)[1].items() if name != turn.slot}
        for name, slot in frame.spec.slots.items():
            if slot.type == "date" and name not in frame.values and name != turn.slot:
                day = read_slot(slot, words, now)
                if day is not None:
                    found[name] = day
        return found

    def _fill_from_context(self, state: Session, frame: Frame, turn: Interpretation) -> None:
        """'and the weather?' or 'book a hotel there' after a question about Tokyo: the missing place is Tokyo."""
        if additive(turn.text) is None and not {"there", "same"} & set(turn.text.split()):
            return
        places = [entity for entity in state.recent.items(self.sessions.now(), self.settings.context_seconds)
                  if entity.mention.kind == "place"]
        for name, slot in frame.spec.slots.items():
            if name in frame.values or slot.type != "place" or not places:
                continue
            value = read_slot(slot, places[0].mention.name.split(), self._clock())
            if value is not None:
                frame.values[name] = value

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
        return state.last if fresh else None

    def _expire(self, state: Session) -> None:
        frame = state.active
        if frame is not None and self.sessions.now() - frame.updated > self.settings.pending_timeout_seconds:
            logger.info("session %s: dropped the unanswered %s request after %.0f s", state.id, frame.intent,
                        self.settings.pending_timeout_seconds)
            state.active, state.dropped = None, frame
