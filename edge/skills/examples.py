"""Training data from the skills' declared sentences, for `distill` to add to the intent data.

    from edge.skills.examples import collect_skill_examples
    for text, intent, spans in collect_skill_examples(per_sentence=20):
        ...   # text: 'book a hotel near beijing west station for friday'
              # spans: (SlotSpan(slot='place_name', value='beijing west station', start=18, end=38), ...)

Every installed skill is included (built-ins and `edge.skills` entry points), without starting
any skill. Each template is expanded into at most `per_sentence` sentence shapes (the same ones
on every run) and the slots are filled with the declared values, samples, or the slot type's
samples. Text is normalised as the intent model sees it. A slot's span is labelled with the
intent model's slot name when the YAML maps one (`model_slots`), else with the skill's slot
name, so new slot tags (B-/I-<name>) can be added to the label set. `to_bio()` gives word-level
BIO tags.
"""

from __future__ import annotations

from typing import NamedTuple

from edge.skills.slots import DEFAULT_SAMPLES
from edge.skills.spec import IntentSpec, SkillSpec, SlotSpec
from edge.skills.templates import Slot, sample_skeletons


class SlotSpan(NamedTuple):
    slot: str
    value: str
    start: int  # character offsets into the text
    end: int


class SkillExample(NamedTuple):
    text: str
    intent: str
    slots: tuple[SlotSpan, ...]


def collect_skill_examples(per_sentence: int = 20, entry_points: bool = True,
                           problems: list[str] | None = None) -> list[SkillExample]:
    """Labelled examples for every installed skill's intents (skills that fail to load are skipped
    and named in `problems`)."""
    from edge.skills.loader import installed_specs

    examples: list[SkillExample] = []
    for spec in installed_specs(entry_points=entry_points, problems=problems):
        examples += expand_spec(spec, per_sentence)
    return examples


def expand_spec(spec: SkillSpec, per_sentence: int = 20) -> list[SkillExample]:
    examples: list[SkillExample] = []
    for intent in spec.intents.values():
        examples += expand_intent(intent, per_sentence)
    return examples


def expand_intent(intent: IntentSpec, per_sentence: int = 20) -> list[SkillExample]:
    seen: set[str] = set()
    examples: list[SkillExample] = []
    counter = 0
    for sentence in intent.sentences:
        for shape in sample_skeletons(sentence, per_sentence):
            example = _fill(intent, shape, counter)
            counter += 1
            if example.text not in seen:
                seen.add(example.text)
                examples.append(example)
    return examples


def _fill(intent: IntentSpec, shape: tuple, counter: int) -> SkillExample:
    text, spans = "", []
    for index, piece in enumerate(shape):
        words = piece.text if not isinstance(piece, Slot) else _sample(intent.slots[piece.name], counter + index)
        start = len(text) + (1 if text else 0)
        text = f"{text} {words}" if text else words
        if isinstance(piece, Slot):
            label = intent.model_slots.get(piece.name, piece.name)
            spans.append(SlotSpan(label, words, start, len(text)))
    return SkillExample(text, intent.name, tuple(spans))


def _sample(slot: SlotSpec, index: int) -> str:
    choices = list(slot.samples) or [name for canonical, synonyms in slot.values.items() for name in (canonical, *synonyms)]
    choices = choices or list(DEFAULT_SAMPLES.get(slot.type, ())) or [slot.name.replace("_", " ")]
    from edge.core.text.normalize import normalize_utterance

    return normalize_utterance(choices[index % len(choices)])


def to_bio(example: SkillExample) -> tuple[list[str], list[str]]:
    """Words and their BIO tags: (['book', 'a', 'hotel', 'in', 'london'], ['O', 'O', 'O', 'O', 'B-place_name'])."""
    words, tags, position = [], [], 0
    for word in example.text.split(" "):
        start, position = position, position + len(word) + 1
        span = next((span for span in example.slots if span.start <= start < span.end), None)
        words.append(word)
        if span is None:
            tags.append("O")
        else:
            tags.append(("B-" if start == span.start else "I-") + span.slot)
    return words, tags
