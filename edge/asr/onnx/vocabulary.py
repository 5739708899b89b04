"""The words the installed skills listen for, to bias the recogniser toward them.

Taken from the intent model's labels (intent names such as `alarm_set`, slot types such as
`time` or `place_name`) and from each skill: its name, its intents, an optional `vocabulary`
attribute, and its declared spec (edge/skills/spec.py): the words of its intents' sample
sentences and its slots' values and synonyms ("living room", "lounge", "dim", "thermostat"…).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path

_SPLIT = re.compile(r"[_\-\s()\[\]|,.?!]+")
_PLACEHOLDER = re.compile(r"\{[^}]*\}")  # {room} in a spec sentence: a slot, not a word
# Sample sentences are full of these; biasing them would only push Whisper toward filler.
_COMMON = {"the", "to", "in", "on", "of", "is", "it", "an", "and", "for", "me", "my", "you", "your", "what",
           "that", "this", "with", "from", "at", "be", "do", "does", "are", "can", "please", "there", "how", "by"}
_NOT_WORDS = {"b", "i", "o", "qa", "iot", "oos", "query", "general"}  # label codes, not spoken words


def label_words(labels_json: Path) -> set[str]:
    """Words of the intent and slot names in a bundle's labels.json."""
    labels = json.loads(labels_json.read_text())
    names = [*labels.get("intents", []), *(tag.split("-", 1)[-1] for tag in labels.get("slot_tags", []))]
    return _words(names)


def skill_words(skills: Iterable[object]) -> set[str]:
    """Words of each skill's name, intents, `vocabulary` attribute and declared spec (its intents'
    sample sentences and its slots' values, synonyms and samples)."""
    names: list[str] = []
    for skill in skills:
        names.append(str(getattr(skill, "name", "")))
        names.extend(getattr(skill, "intents", ()))
        names.extend(getattr(skill, "vocabulary", ()))
        spec = getattr(skill, "spec", None)
        for intent in getattr(spec, "intents", {}).values():
            names.extend(_PLACEHOLDER.sub(" ", sentence) for sentence in intent.sentences)
            for slot in intent.slots.values():
                names.extend(slot.values)
                names.extend(synonym for synonyms in slot.values.values() for synonym in synonyms)
                names.extend(slot.samples)
    return _words(names) - _COMMON


def _words(names: Iterable[str]) -> set[str]:
    found = set()
    for name in names:
        for word in _SPLIT.split(name.lower()):
            if len(word) > 1 and word.isalpha() and word not in _NOT_WORDS:
                found.add(word)
    return found
