"""Match an utterance against every installed skill's declared sentences.

    matcher = SentenceMatcher(registry.skills)
    found = matcher.match("book a hotel near beijing west station", now)
    found.intent, found.values["place"].value     # 'hotel_book', 'beijing west station'

This is the high-precision path for skill intents: the shipped intent model was trained before
a skill was installed and does not know `hotel_book`, so a sentence that matches a declared
template exactly is trusted before the model's guess. Which template wins when several match:
the one with the most literal (non-slot) words, then the one with more slots, then the one
declared first. Count slots ("for two nights", "for 3 people") are read out of the words before
the sentences are matched, so a booking's sentences need not list every place such a phrase may go.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from edge.skills.base import Skill
from edge.skills.slots import SlotContext, SlotValue, parse_slot
from edge.skills.spec import IntentSpec, SlotSpec
from edge.skills.templates import Alt, Seq, Word, match_template, parse_template, strip_polite


@dataclass(frozen=True)
class SentenceMatch:
    intent: str
    skill: str
    values: dict[str, SlotValue]
    sentence: str  # the template that matched


@dataclass(frozen=True)
class _Template:
    intent: IntentSpec
    skill: Skill
    sentence: str
    tree: Seq
    anchors: frozenset[str]  # words every match must contain


def read_slot(slot: SlotSpec, words: Sequence[str], now: datetime, strict: bool = False) -> SlotValue | None:
    """Parse `words` as a value of a declared slot."""
    context = SlotContext(now=now, values=slot.values, open=slot.open, currency=slot.currency, strict=strict,
                          units=slot.units)
    return parse_slot(slot.type, list(words), context)


class SentenceMatcher:
    def __init__(self, skills: Iterable[Skill]) -> None:
        self._templates: list[_Template] = []
        for skill in skills:
            if skill.spec is None:
                continue
            for intent in skill.spec.intents.values():
                for sentence in intent.sentences:
                    tree = parse_template(sentence)
                    self._templates.append(_Template(intent, skill, sentence, tree, frozenset(_anchors(tree))))

    def __len__(self) -> int:
        return len(self._templates)

    def match(self, text: str, now: datetime) -> SentenceMatch | None:
        """The best match of the normalised `text`, or None."""
        said = strip_polite(text.split())
        present = set(said)
        counted: dict[str, tuple[list[str], dict[str, SlotValue]]] = {}
        best: tuple[tuple[int, int, int], SentenceMatch] | None = None
        for order, template in enumerate(self._templates):
            if not template.anchors <= present:
                continue
            name = template.intent.name
            if name not in counted:
                counted[name] = take_counts(template.intent, said, now)
            words, counts = counted[name]
            cache: dict[tuple[str, tuple[str, ...]], SlotValue | None] = {}

            def validate(slot: str, span: list[str], template: _Template = template, cache=cache) -> SlotValue | None:
                key = (slot, tuple(span))
                if key not in cache:
                    cache[key] = read_slot(template.intent.slots[slot], span, now, strict=True)
                return cache[key]

            found = match_template(template.tree, words, validate)
            if found is None:
                continue
            bound, literal = found
            values = {**counts, **{name: value for name, (_, value) in bound.items()}}
            if not template.skill.accepts(template.intent.name, values):
                continue
            candidate = SentenceMatch(template.intent.name, template.skill.name, values, template.sentence)
            score = (literal, len(bound), -order)
            if best is None or score > best[0]:
                best = (score, candidate)
        return None if best is None else best[1]


def take_counts(intent: IntentSpec, words: Sequence[str], now: datetime) -> tuple[list[str], dict[str, SlotValue]]:
    """The words without the intent's count phrases, and their values: 'book a hotel in london for two
    nights' -> ('book a hotel in london', {'nights': 2})."""
    words, values = list(words), {}
    for name, slot in intent.slots.items():
        if slot.type != "count":
            continue
        for start in range(len(words)):
            end = next((end for end in range(min(len(words), start + 6), start, -1)
                        if read_slot(slot, words[start:end], now, strict=True) is not None), None)
            if end is None:
                continue
            values[name] = read_slot(slot, words[start:end], now, strict=True)
            if start > 0 and words[start - 1] in ("for", "with"):
                start -= 1
            del words[start:end]
            break
    return words, values


def _anchors(tree: Seq) -> set[str]:
    """Literal words outside any optional part or alternative: a cheap pre-filter."""
    words: set[str] = set()
    for item in tree.items:
        if isinstance(item, Word):
            words.update(item.words)
        elif isinstance(item, Alt) and not item.optional and len(item.options) == 1:
            words |= _anchors(item.options[0])
    return words
