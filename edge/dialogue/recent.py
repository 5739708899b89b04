"""A session's recent things: what its last turns created or talked about, newest first.

    recent = Recent(max_items=16)
    recent.add(reply.mentions, skill="alarms", intent="alarm_set", at=now, turn=3)
    recent.find(Reference(kind="timer", name="egg"), verb="query", now=now, within=120.0)

Skills name what a reply created or talked about (`SkillReply.mentions`); the dialogue adds the
places a request was about. `find` picks the one a reference means: a named one, the newest of a
kind, "the other one" (not the one meant last), "the first one" (in the order one reply listed
them), or for "it" the newest thing that can take the verb. Everything older than `within`
seconds is forgotten.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from edge.dialogue.references import Reference
from edge.skills.base import Mention


@dataclass(frozen=True)
class Entity:
    mention: Mention
    skill: str  # the skill whose reply mentioned it (its actions are that skill's intents)
    intent: str  # the intent of the turn that mentioned it
    at: float  # monotonic seconds
    turn: int  # the session's turn number
    index: int = 0  # its place in that reply's list ("the first one")

    @property
    def key(self) -> tuple[str, str, str]:
        return self.skill, self.mention.kind, self.mention.ref or self.mention.name


class Recent:
    def __init__(self, max_items: int = 16) -> None:
        self._items: list[Entity] = []  # newest first
        self._max = max_items
        self.last_meant: Entity | None = None  # the thing the last resolved reference meant
        self.last_verb = ""  # ...and what was done to it ("and the other one?" does it again)

    def add(self, mentions: Iterable[Mention], skill: str, intent: str, at: float, turn: int) -> None:
        fresh = [Entity(mention, skill, intent, at, turn, index) for index, mention in enumerate(mentions)]
        keys = {entity.key for entity in fresh}
        self._items = fresh + [entity for entity in self._items if entity.key not in keys]
        del self._items[self._max :]

    def forget(self, entity: Entity) -> None:
        """It is gone (cancelled, removed): "it" no longer means it."""
        self._items = [item for item in self._items if item.key != entity.key]

    def kinds(self, now: float, within: float) -> set[str]:
        return {entity.mention.kind for entity in self.items(now, within)}

    def items(self, now: float, within: float) -> list[Entity]:
        return [entity for entity in self._items if now - entity.at <= within]

    def find(self, reference: Reference, verb: str, now: float, within: float) -> Entity | None:
        """The recent thing `reference` means, given what the user wants done to it."""
        candidates = self.items(now, within)
        if reference.place:
            return next((entity for entity in candidates if entity.mention.kind == "place"), None)
        if reference.kind:
            candidates = [entity for entity in candidates if entity.mention.kind == reference.kind]
        if reference.name:
            named = [entity for entity in candidates if set(reference.name.split()) <= set(entity.mention.name.split())]
            candidates = named or ([] if reference.kind else candidates)
        if verb:
            able = [entity for entity in candidates if verb in entity.mention.actions]
            candidates = able or candidates
        if not candidates:
            return None
        if reference.other or reference.negated:
            return self._other(candidates)
        if reference.ordinal is not None:
            return _by_order(candidates, reference.ordinal)
        return candidates[0]

    def listed(self, now: float, within: float) -> list[Entity]:
        """What the newest reply that named several things named, in its order ("cancel both")."""
        items = self.items(now, within)
        turns = sorted({entity.turn for entity in items}, reverse=True)
        for turn in turns:
            listed = sorted((entity for entity in items if entity.turn == turn), key=lambda entity: entity.index)
            if len(listed) > 1:
                return listed
        return []

    def ambiguous(self, entity: Entity, verb: str, now: float, within: float) -> list[Entity]:
        """Others the same reply listed beside `entity` that could equally take the verb ("cancel it"
        after "you have 2 timers"): asking beats guessing before something is removed."""
        return [item for item in self.items(now, within) if item.turn == entity.turn and item.key != entity.key
                and item.mention.kind == entity.mention.kind and verb in item.mention.actions]

    def _other(self, candidates: list[Entity]) -> Entity | None:
        meant = self.last_meant
        kind = meant.mention.kind if meant is not None else candidates[0].mention.kind
        others = [entity for entity in candidates if entity.mention.kind == kind and (meant is None or entity.key != meant.key)]
        return others[0] if others else None


def _by_order(candidates: list[Entity], ordinal: int) -> Entity | None:
    """'the first one': in the order the newest reply that listed several of them said them."""
    turn = max((entity.turn for entity in candidates), default=0)
    listed = sorted((entity for entity in candidates if entity.turn == turn), key=lambda entity: entity.index)
    if len(listed) < 2:  # no list: by when they were mentioned, oldest first
        listed = sorted(candidates, key=lambda entity: (entity.turn, entity.index))
    if -len(listed) <= ordinal < len(listed):
        return listed[ordinal]
    return None
