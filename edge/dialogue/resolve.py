"""Which recent thing a turn is about, and what to do with it: "cancel it", "how long is left on
the egg timer", "turn them off", "no, half past six instead", "the other one", "the first one".

    resolver = Resolver(registry, settings.dialogue)
    found = resolver.resolve(session, intent, text, now, clock_now)   # a Resolved, or None
    found.intent, found.entity.mention.ref, found.values

The session keeps what its last turns created or talked about (`Session.recent`, from the skills'
`SkillReply.mentions` and the places a request was about). A reference ("it", "the timer", "the
other one", "there") picks one of them (edge/dialogue/recent.py); the verb ("cancel", "how long…",
"make it…", "turn … off") picks what to do: the intent the thing's skill named for that verb
(`Mention.actions`), or the intent model's own intent when it is one of them. A request of its own
that the intent model is sure of is never taken for a reference ("what time is it" is not about
the timer). When "it" could mean several things that one reply listed and the verb would remove
one, the speaker asks which instead of guessing. Pure with respect to the outside world.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from edge.core.events import IntentResult
from edge.core.settings import DialogueSettings
from edge.core.text.normalize import normalize_utterance
from edge.dialogue.answers import correction
from edge.dialogue.recent import Entity
from edge.dialogue.references import Reference, additive, find_reference, verb_of, without_references
from edge.dialogue.state import Session
from edge.skills.matcher import read_slot
from edge.skills.registry import SkillRegistry
from edge.skills.slots import SlotValue
from edge.skills.spec import IntentSpec

_COMMANDS = ("cancel", "off", "on", "change")  # "stop it", "add two minutes to it": commands, even after an LLM
_SHORT_COMMAND_WORDS = 5  # "delete it", "actually make it 7": too short for the intent model to know what "it" is
_RELATIVE = re.compile(r"\b(?:later|earlier|sooner)\b")
_ALL = ("both", "all", "all of them", "both of them", "every one", "everything", "either")


@dataclass(frozen=True)
class Resolved:
    kind: str  # refer: act on `entity` | choose: ask which of `candidates`
    intent: str  # the intent to run
    verb: str  # cancel | query | change | on | off | "" (the intent model's intent with the thing's slots)
    entity: Entity | None = None
    values: dict[str, SlotValue] | None = None  # slot values for `intent` (from the thing and the words)
    candidates: tuple[Entity, ...] = ()  # every thing meant ("both"), or the ones to choose from


class Resolver:
    def __init__(self, registry: SkillRegistry, settings: DialogueSettings) -> None:
        self.registry = registry
        self.settings = settings

    def resolve(self, session: Session, intent: IntentResult, text: str, now: float, clock_now: datetime,
                corrects: bool = False) -> Resolved | None:
        """What `text` refers to among the session's recent things, or None (not a reference). `corrects`: the
        user said "no, I meant …" and `text` is what they meant."""
        within = self.settings.context_seconds
        if session.choice is not None:
            chosen = self._chosen(session, text, now, clock_now)
            if chosen is not None:
                return chosen
        reference = find_reference(text, session.recent.kinds(now, within)) or self._named(session, text, now)
        if reference is None:
            return self._correction(session, intent, text, now, clock_now, corrects) if session.answered else None
        verb = verb_of(text) or self._implied_verb(session, reference, text)
        if not session.answered and not reference.explicit and verb not in _COMMANDS:
            return None  # after an LLM's answer, "what about it?" is about that answer
        if reference.every:
            return self._every(session, verb, intent, now)
        return self._on_thing(session, reference, verb, intent, text, now, clock_now)

    def _on_thing(self, session: Session, reference: Reference, verb: str, intent: IntentResult, text: str, now: float,
                  clock_now: datetime) -> Resolved | None:
        """The one thing `reference` means, and what to do with it."""
        within = self.settings.context_seconds
        entity = session.recent.find(reference, verb, now, within)
        if entity is None or (self._guess_counts(reference, verb, text) and self._own_request(intent, entity)):
            return None
        action = self._action(entity, verb, intent)
        if action is None:
            return None
        values = self._values(entity, action, text, clock_now)
        if verb == "change" and not _said_values(self.spec(action), correction(text) or without_references(text), clock_now) \
                and not _RELATIVE.search(text):
            return None  # "make it warmer" is not a change this thing can take
        if verb == "cancel" and not (reference.explicit or reference.ordinal is not None or reference.other):
            others = session.recent.ambiguous(entity, verb, now, within)
            if others:
                return Resolved("choose", action, verb, candidates=(entity, *others))
        return Resolved("refer", action, verb if action == entity.mention.actions.get(verb) else "", entity, values)

    def _guess_counts(self, reference: Reference, verb: str, text: str) -> bool:
        """Whether the intent model's own guess may overrule a reference: not for "the first one", "the egg
        timer" or a short command ("delete it", "make it 7": it cannot know what "it" is), but for a
        question ("what time is it", "is it going to rain") or a longer request."""
        if reference.explicit or reference.ordinal is not None or reference.other or reference.negated:
            return False
        short_command = verb in (*_COMMANDS, "change") and len(text.split()) <= _SHORT_COMMAND_WORDS
        return not (short_command or correction(text) is not None)

    def _named(self, session: Session, text: str, now: float) -> Reference | None:
        """'how much longer on the cookies?': a recent thing's own name said after "the" or "my", with a verb."""
        if not verb_of(text):
            return None
        padded = f" {text} "
        for entity in session.recent.items(now, self.settings.context_seconds):
            kind = entity.mention.kind
            name = " ".join(word for word in normalize_utterance(entity.mention.name).split() if word != kind)
            if name and any(f" {det} {name} " in padded for det in ("the", "my", "our")):
                return Reference(kind=kind, name=name)
        return None

    def _every(self, session: Session, verb: str, intent: IntentResult, now: float) -> Resolved | None:
        """'cancel both', 'delete all of them': every thing the newest listing named."""
        listed = session.recent.listed(now, self.settings.context_seconds)
        if not listed:  # no list said: the recent things of the newest one's kind ("set two timers… cancel both")
            items = session.recent.items(now, self.settings.context_seconds)
            listed = [entity for entity in items if items and entity.mention.kind == items[0].mention.kind]
        able = [entity for entity in listed if verb in entity.mention.actions]
        if len(able) < 2:
            return None
        return Resolved("refer", able[0].mention.actions[verb], verb, able[0], {}, tuple(able))

    def spec(self, intent: str) -> IntentSpec:
        """The declared intent (slots to ask for, whether it costs money), or a bare one."""
        skill = self.registry.skill_for(intent)
        spec = skill.spec.intents.get(intent) if skill is not None and skill.spec is not None else None
        return spec or IntentSpec(name=intent)

    def _implied_verb(self, session: Session, reference: Reference, text: str) -> str:
        """'and the other one?', 'what about the egg timer?': what was done last, else a question."""
        if reference.other or reference.negated or additive(text) is not None or reference.explicit:
            return session.recent.last_verb or "query"
        return ""

    def _own_request(self, intent: IntentResult, entity: Entity) -> bool:
        """The intent model is sure this is a request of its own, for another skill ("what time is it")."""
        if intent.out_of_scope or intent.confidence < self.settings.new_request_confidence:
            return False
        skill = self.registry.skill_for(intent.intent)
        return skill is not None and skill.name != entity.skill and intent.intent not in entity.mention.actions.values()

    def _action(self, entity: Entity, verb: str, intent: IntentResult) -> str | None:
        """The intent to run on `entity`: the model's when the thing can take it, else the verb's."""
        actions = entity.mention.actions
        if not intent.out_of_scope and intent.intent in actions.values():
            return intent.intent
        if verb in actions:
            return actions[verb]
        if verb == "off" and "cancel" in actions:
            return actions["cancel"]
        skill = self.registry.skill_for(intent.intent)
        if skill is not None and not intent.out_of_scope and (skill.name == entity.skill or entity.mention.kind == "place"):
            return intent.intent  # "make it brighter" about the kitchen lights: the model's intent, their slots
        return None

    def _values(self, entity: Entity, intent: str, text: str, now: datetime) -> dict[str, SlotValue]:
        """Slot values for `intent`: what the thing was (its slots; a place by type), then what was said."""
        spec = self.spec(intent)
        values: dict[str, SlotValue] = {}
        mention = entity.mention
        for name, slot in spec.slots.items():
            words = mention.slots.get(name) or (mention.name if mention.kind == "place" and slot.type == "place" else "")
            value = read_slot(slot, words.split(), now) if words else None
            if value is not None:
                values[name] = value
        said = correction(text) or without_references(text)
        values.update(_said_values(spec, said, now))
        return values

    def _correction(self, session: Session, intent: IntentResult, text: str, now: float, clock_now: datetime,
                    corrects: bool = False) -> Resolved | None:
        """'no, half past six instead' right after an alarm was set: move that alarm."""
        if additive(text) is not None:
            return None  # "oh, and eggs": one more, not a correction
        rest = text if corrects else correction(text)
        unsure = intent.out_of_scope or intent.confidence < self.settings.new_request_confidence
        if rest is None and not unsure:
            return None
        made = [entity for entity in session.recent.items(now, self.settings.context_seconds)
                if entity.turn == session.turn - 1 and "change" in entity.mention.actions]
        if len(made) != 1:
            return None
        entity = made[0]
        action = entity.mention.actions["change"]
        said = _said_values(self.spec(action), rest or text, clock_now, typed_only=rest is None)
        if not said:
            return None
        return Resolved("refer", action, "change", entity, {**self._values(entity, action, "", clock_now), **said})

    def _chosen(self, session: Session, text: str, now: float, clock_now: datetime) -> Resolved | None:
        """The answer to "which one?": 'the egg one', 'the first one', 'both'."""
        verb, candidates, asked = session.choice
        session.choice = None
        if now - asked > self.settings.follow_up_seconds * 4:
            return None
        padded = f" {text} "
        if any(f" {word} " in padded for word in _ALL):
            action = candidates[0].mention.actions[verb]
            return Resolved("refer", action, verb, candidates[0], {}, candidates)
        reference = find_reference(text, {entity.mention.kind for entity in candidates}) or Reference()
        picked = _pick(candidates, reference, text)
        if picked is None:
            return None
        action = picked.mention.actions.get(verb)
        return None if action is None else Resolved("refer", action, verb, picked, self._values(picked, action, "", clock_now))


def _pick(candidates: tuple[Entity, ...], reference: Reference, text: str) -> Entity | None:
    if reference.ordinal is not None and -len(candidates) <= reference.ordinal < len(candidates):
        return sorted(candidates, key=lambda entity: entity.index)[reference.ordinal]
    said = {_stem(word) for word in text.split()} - {"the", "one", "my", "a", "timer", "alarm", "that", "this", "for"}
    scored = [(len(said & {_stem(word) for word in normalize_utterance(entity.mention.name).split()}), entity)
              for entity in candidates]
    best = max(scored, key=lambda item: item[0], default=(0, None))
    tied = [entity for score, entity in scored if score == best[0]]
    return best[1] if best[0] > 0 and len(tied) == 1 else None


def _stem(word: str) -> str:
    return word[:-1] if word.endswith("s") and len(word) > 3 else word


def _said_values(spec: IntentSpec, text: str, now: datetime, typed_only: bool = False) -> dict[str, SlotValue]:
    """Values of `spec`'s slots in `text`: typed slots first ("half past six" is a time), then its one
    required free-text slot ("oat milk" for the list item), unless `typed_only`."""
    words = text.split()
    if not words:
        return {}
    for name, slot in spec.slots.items():
        if slot.type in ("text", "choice", "place") and slot.open:
            continue
        if slot.type == "text":
            continue
        strict = read_slot(slot, words, now, strict=True)
        lenient = not typed_only and slot.type in ("duration", "time")  # a bare utterance must be all value
        value = strict if strict is not None else (read_slot(slot, words, now) if lenient else None)
        if value is not None:
            return {name: value}
    if typed_only:
        return {}
    texts = [name for name, slot in spec.slots.items() if slot.type == "text" and slot.required]
    if len(texts) == 1 and len(words) <= 6:
        return {texts[0]: SlotValue(text, text, text)}
    return {}
