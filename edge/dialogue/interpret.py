"""Read one utterance against a session: an answer to the pending question, a yes or no to an
offer, a correction, "cancel", "and tomorrow?", a declared sentence, or none of these (the intent
model's turn). Pure with respect to the outside world: it reads the session and changes nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from edge.core.events import IntentResult
from edge.dialogue.answers import bare_yes_or_no, carry_over, correction, is_cancel, named_slot, yes_or_no
from edge.dialogue.references import additive, without_references
from edge.dialogue.state import Frame
from edge.skills.matcher import SentenceMatch, SentenceMatcher, read_slot
from edge.skills.slots import SlotValue
from edge.skills.spec import IntentSpec, SlotSpec

# Intents the model gives for fragments ("friday" -> datetime_query); they do not end a pending question.
_FRAGMENT_INTENTS = frozenset({
    "general_affirm", "general_negate", "general_confirm", "general_dontcare", "general_explain", "general_repeat",
    "general_quirky", "general_praise", "general_commandstop",
})
CLAIMED_KINDS = ("answer", "correct", "confirm", "decline", "cancel", "reprompt", "carry", "sentence", "refer",
                 "choose", "other", "social", "tool", "again")


@dataclass(frozen=True)
class Interpretation:
    session: str
    kind: str  # one of CLAIMED_KINDS, or "model": the intent model's answer is used as it is
    intent: IntentResult  # what the turn is about (the dialogue's intent for claimed turns)
    text: str  # normalised utterance
    raw_text: str
    frame: Frame | None = None  # the frame this turn continues or starts
    slot: str = ""  # the slot an answer or correction sets
    value: SlotValue | None = None
    resolved: Any = None  # refer/choose: what a reference meant (edge/dialogue/resolve.py's Resolved)

    @property
    def claimed(self) -> bool:
        """True when the dialogue layer answers this turn itself (no routing, no escalation)."""
        return self.kind != "model"


Reading = tuple[str, str, SlotValue | None]  # (kind, slot, value)


class Interpreter:
    def __init__(self, matcher: SentenceMatcher, confident: float = 0.9) -> None:
        self.matcher = matcher
        self.confident = confident  # model confidence at which a non-answer is a new request

    def during(self, frame: Frame, intent: IntentResult, text: str, now: datetime) -> tuple[str, str, SlotValue | None]:
        """(kind, slot, value) for an utterance while `frame` waits for an answer or a yes. The
        readings are tried in order; the first that fits wins."""
        steps = (self._cancel, self._another, self._correction, self._other_request, self._reply_to_question, self._new_sentence,
                 self._free_text, self._other_slot, self._open_answer)
        for step in steps:
            found = step(frame, intent, text, now)
            if found is not None:
                return found
        return ("reprompt" if self._unsure(intent) else "model"), "", None

    def _cancel(self, frame: Frame, intent: IntentResult, text: str, now: datetime) -> Reading | None:
        return ("cancel", "", None) if is_cancel(text) else None

    def _another(self, frame: Frame, intent: IntentResult, text: str, now: datetime) -> Reading | None:
        """'not that one', 'anything cheaper?', 'a different one' while an offer waits for a yes: offer the next."""
        return ("other", "", None) if frame.confirming and _ANOTHER.search(text) else None

    def _correction(self, frame: Frame, intent: IntentResult, text: str, now: datetime) -> Reading | None:
        rest = correction(text)
        if rest is None:
            return None
        found = _any_slot(frame.spec, rest, now, prefer=named_slot(text, list(frame.spec.slots)) or frame.pending,
                          free_text=True)
        return None if found is None else ("correct", *found)

    def _other_request(self, frame: Frame, intent: IntentResult, text: str, now: datetime) -> Reading | None:
        """A whole declared sentence of another intent is a new request, even when a value of the
        pending slot is in it ("remember my home city is shanghai" while asked "For which city?")."""
        found = self.match(text, now)
        return ("sentence", "", None) if found is not None and found.intent != frame.intent else None

    def _reply_to_question(self, frame: Frame, intent: IntentResult, text: str, now: datetime) -> Reading | None:
        """A yes/no to an offer (or a changed slot value instead), or a typed answer to the pending slot."""
        if frame.confirming:
            answer = yes_or_no(text, intent)
            if answer is not None:
                return ("confirm" if answer else "decline"), "", None
            found = _any_slot(frame.spec, text, now, closed_only=True)
            return None if found is None else ("correct", *found)
        value = _read(frame.spec.slots[frame.pending], text, now, closed=True) if frame.pending else None
        return None if value is None else ("answer", frame.pending, value)

    def _new_sentence(self, frame: Frame, intent: IntentResult, text: str, now: datetime) -> Reading | None:
        return ("sentence", "", None) if self.match(text, now) is not None else None

    def _free_text(self, frame: Frame, intent: IntentResult, text: str, now: datetime) -> Reading | None:
        """"What should I remind you about?" takes any words (but a bare "sure" answers no such question)."""
        if bare_yes_or_no(text) is not None:
            return "reprompt", "", None
        if frame.pending and frame.spec.slots[frame.pending].type == "text" and len(text.split()) <= _TEXT_MAX_WORDS:
            return "answer", frame.pending, SlotValue(text, text, text)
        return None

    def _other_slot(self, frame: Frame, intent: IntentResult, text: str, now: datetime) -> Reading | None:
        """The user gave another slot than the one asked ("friday" when asked for the budget)."""
        found = _any_slot(frame.spec, text, now, closed_only=True, skip=frame.pending)
        return None if found is None else ("answer", *found)

    def _open_answer(self, frame: Frame, intent: IntentResult, text: str, now: datetime) -> Reading | None:
        """Free words for an open slot, unless the intent model is sure this is a request of its own."""
        if not frame.pending or not self._unsure(intent):
            return None
        value = _read(frame.spec.slots[frame.pending], text, now, closed=False)
        return None if value is None else ("answer", frame.pending, value)

    def fresh(self, last: Frame | None, intent: IntentResult, text: str, now: datetime) -> tuple[str, str, SlotValue | None]:
        """(kind, slot, value) with nothing pending; `last` is the last answered frame, if recent.

        "and butter too", "what about Paris", "and in Sydney?" re-run `last` with one slot changed
        (any declared intent); a bare "tomorrow?" or "no, make it Friday" only for intents declared
        with `context: true` (a question, not an action, is what such a fragment re-asks)."""
        if is_cancel(text):  # "never mind" with nothing pending: acknowledge, never escalate to an LLM
            return "cancel", "", None
        if self.match(text, now) is not None:
            return "sentence", "", None
        if last is None:
            return "model", "", None
        marked = additive(text) or carry_over(text)
        rest = marked if marked is not None else correction(text) if last.spec.context else None
        if marked is not None and not self._unsure(intent) and len(marked.split()) > _CARRY_SURE_MAX_WORDS:
            return "model", "", None  # "add cheese to my list as well": a whole request the model is sure of
        if rest is not None:
            rest = without_references(rest) or rest
            found = _any_slot(last.spec, rest, now, prefer=named_slot(text, list(last.spec.slots)),
                              closed_only=not self._unsure(intent), free_text=marked is not None, whole=True)
            if found is not None:
                return "carry", *found
        elif intent.out_of_scope and last.spec.context:
            found = _any_slot(last.spec, text, now, closed_only=True)
            if found is not None:
                return "carry", *found
        return "model", "", None

    def match(self, text: str, now: datetime) -> SentenceMatch | None:
        return self.matcher.match(text, now)

    def _unsure(self, intent: IntentResult) -> bool:
        return intent.out_of_scope or intent.confidence < self.confident or intent.intent in _FRAGMENT_INTENTS


_ANOTHER = re.compile(r"\b(?:not (?:that|this) one|(?:the |an |any |some )?other (?:one|hotel|option)s?|another (?:one|hotel|option)|"
                      r"(?:a |something |anything |somewhere )(?:different|else)|(?:something |anything |any(?:thing)? )?cheaper|"
                      r"next one|different (?:one|hotel))\b")
_CARRY_SURE_MAX_WORDS = 3  # a longer follow-up the intent model is sure of is a request of its own
_OPEN_MAX_WORDS = 4  # a longer utterance is not taken as a free-form place or choice
_TEXT_MAX_WORDS = 16  # ...nor as the answer to a free-text question


def _read(slot: SlotSpec, text: str, now: datetime, closed: bool) -> SlotValue | None:
    """A slot value in `text`; `closed`: only a typed value or a listed one (never free words)."""
    if closed and slot.type == "text":
        return None
    if not closed and len(text.split()) > _OPEN_MAX_WORDS:
        return None
    if closed and slot.open:
        slot = SlotSpec(**{**slot.__dict__, "open": False})
    return read_slot(slot, text.split(), now)


def _any_slot(spec: IntentSpec, text: str, now: datetime, prefer: str = "", closed_only: bool = False,
              skip: str = "", free_text: bool = False, whole: bool = False) -> tuple[str, SlotValue] | None:
    """The first slot of `spec` the text is a value of: `prefer` first, then typed slots, then (unless
    `closed_only`) open ones, required ones first; free text only with `free_text` ("and butter too");
    with `whole`, a listed value only when it is all that was said ("the hallway", not "…my shopping list")."""
    order = [prefer] if prefer in spec.slots else []
    order += [name for name in spec.slots if name not in order and name != skip]
    for closed in (True, False):
        if closed_only and not closed:
            break
        if not closed:
            order = sorted(order, key=lambda name: not spec.slots[name].required)
        for name in order:
            if not closed and spec.slots[name].type == "text" and not free_text and name != prefer:
                continue
            slot = spec.slots[name]
            strict = whole and closed and slot.type in ("choice", "place")
            listed = SlotSpec(**{**slot.__dict__, "open": False})
            value = read_slot(listed, text.split(), now, strict=True) if strict else _read(slot, text, now, closed=closed)
            if value is not None:
                return name, value
    return None
