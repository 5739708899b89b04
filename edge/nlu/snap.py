"""Slot snapping: a tagged span becomes the closest value its slot declares, or is dropped as unsure.

    snapped = snap_slots({"size": "8 oz", "drink": "capacino"}, domain, threshold=0.6)
    snapped.slots      # {"size": "eight ounce", "drink": "cappuccino"}
    snapped.raw        # {"size": "8 oz", "drink": "capacino"}: what the model tagged, for the trace
    snapped.unsure     # slot names dropped: no declared value was close enough

Similarity (0-1) is the best of: the characters' match ratio, the match ratio of a rough
phonetic key ("capacino" and "cappuccino" sound alike), and word containment ("dark" is part of
"dark roast"). Numbers and units are normalised first: "8 ounce", "eight oz" and "8-ounces" are
all "eight ounce". A slot whose name the domain does not declare is left as it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from difflib import SequenceMatcher

from edge.core.domain import Domain
from edge.core.text.normalize import normalize_utterance

_UNITS = {
    "oz": "ounce", "ounces": "ounce", "lb": "pound", "lbs": "pound", "pounds": "pound", "ml": "milliliter",
    "milliliters": "milliliter", "l": "liter", "liters": "liter", "g": "gram", "grams": "gram", "kg": "kilogram",
    "kilograms": "kilogram", "shots": "shot", "cups": "cup", "minutes": "minute", "min": "minute", "mins": "minute",
    "seconds": "second", "sec": "second", "secs": "second", "hours": "hour", "hr": "hour", "hrs": "hour",
}
_PHONETIC = [
    (re.compile(r"ph"), "f"), (re.compile(r"ck|q"), "k"), (re.compile(r"c(?=[eiy])"), "s"), (re.compile(r"c"), "k"),
    (re.compile(r"x"), "ks"), (re.compile(r"z"), "s"), (re.compile(r"v"), "f"), (re.compile(r"dg"), "j"),
    (re.compile(r"gh"), ""), (re.compile(r"wh"), "w"), (re.compile(r"(?<=.)[aeiouyhw]"), ""), (re.compile(r"(.)\1+"), r"\1"),
]


@dataclass(frozen=True)
class Snapped:
    slots: dict[str, str]
    raw: dict[str, str] = field(default_factory=dict)  # slot -> the tagged span, where it was changed or dropped
    unsure: list[str] = field(default_factory=list)


def normalise_span(span: str) -> str:
    """Lower case, numbers as words, unit abbreviations and plurals as the unit word."""
    return " ".join(_UNITS.get(word, word) for word in normalize_utterance(span).split())


def phonetic_key(text: str) -> str:
    """A rough sound-alike key per word: consonant classes, vowels dropped after the first letter."""
    words = []
    for word in text.split():
        for pattern, replacement in _PHONETIC:
            word = pattern.sub(replacement, word)
        words.append(word)
    return " ".join(words)


def similarity(span: str, value: str) -> float:
    if span == value:
        return 1.0
    characters = SequenceMatcher(None, span, value).ratio()
    sounds = SequenceMatcher(None, phonetic_key(span), phonetic_key(value)).ratio()
    span_words, value_words = span.split(), value.split()
    contained = 0.0
    if span_words and set(span_words) <= set(value_words):
        contained = 0.6 + 0.35 * len(span_words) / len(value_words)
    return max(characters, 0.95 * sounds, contained)


def closest(span: str, values: tuple[str, ...]) -> tuple[str, float]:
    """The declared value most like the span, and how alike (0-1)."""
    normalised = normalise_span(span)
    return max(((value, similarity(normalised, value)) for value in values), key=lambda pair: pair[1])


def snap_slots(slots: dict[str, str], domain: Domain, threshold: float) -> Snapped:
    types = domain.slot_types()
    snapped: dict[str, str] = {}
    raw: dict[str, str] = {}
    unsure: list[str] = []
    for name, span in slots.items():
        slot_type = types.get(name)
        if slot_type is None:
            snapped[name] = span
            continue
        value, score = closest(span, domain.slots[slot_type])
        if score >= threshold:
            snapped[name] = value
        else:
            unsure.append(name)
        if value != span or score < threshold:
            raw[name] = span
    return Snapped(snapped, raw, unsure)
