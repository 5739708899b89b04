"""A skill's intents declared in YAML: sample sentences, slots, the question for each required slot.

    skill: hotels
    description: Find and book a hotel room.
    intents:
      hotel_book:
        description: Search for a hotel and book a room.
        costs_money: true            # "yes" is needed before the skill is told to act
        context: true                # "and in London?" re-asks with one slot changed
        model_slots: {place: place_name, date: date}   # intent-model slot names feeding ours
        sentences:
          - book a hotel [room] (in | near) {place} [for {date}]
        slots:
          place: {type: place, values: [beijing, shanghai], open: true, required: true,
                  ask: Where would you like to stay?}
          date: {type: date, required: true, ask: For which night?}
          budget: {type: money, required: true, ask: What's your budget per night?, currency: yuan}

Slot keys: `type` (see edge/skills/slots.py), `required`, `ask` (required slots must have one),
`values` (a list, or a map of value -> synonyms), `samples` (examples for training data),
`open` (accept any words, not only `values`), `default` (words used when the slot is missing),
`memory` (a remembered fact, e.g. "home city", used when the slot is missing), `currency`, `units`
(a count's nouns: `nights: {type: count, units: [night, nights]}` reads "for two nights" as 2, and
that phrase is read before the sentences are matched, so it never becomes another slot's number),
`description` (what the slot holds, for the cloud LLM's tool schema; default: the `ask` question).

Errors are `SkillSpecError` naming the file and line, so a broken skill can be skipped with a
message the author can act on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from edge.core.errors import ConfigError
from edge.skills.slots import SLOT_TYPES

_INTENT_KEYS = {"description", "sentences", "slots", "costs_money", "context", "model_slots"}
_SLOT_KEYS = {"type", "required", "ask", "values", "samples", "open", "default", "memory", "currency", "units", "description"}


class SkillSpecError(ConfigError, ValueError):
    """A skill's YAML declaration is invalid; the message names the file and the line."""


@dataclass(frozen=True)
class SlotSpec:
    name: str
    type: str = "text"
    required: bool = False
    ask: str = ""  # the question asked when a required slot is missing
    values: dict[str, tuple[str, ...]] = field(default_factory=dict)  # canonical value -> synonyms
    samples: tuple[str, ...] = ()  # example fillers for generated training sentences
    open: bool = False  # accept any words, not only `values`
    default: str = ""  # words parsed when the slot is missing and nothing else fills it
    memory: str = ""  # a remembered fact ("home city") that fills the slot when it is missing
    currency: str = ""  # money slots: the currency meant when none is said
    units: tuple[str, ...] = ()  # count slots: the nouns counted ("night", "nights")
    description: str = ""  # what the slot holds, for the LLM's tool schema (edge/skills/tools.py); "" the `ask`


@dataclass(frozen=True)
class IntentSpec:
    name: str
    sentences: tuple[str, ...] = ()
    slots: dict[str, SlotSpec] = field(default_factory=dict)
    description: str = ""
    costs_money: bool = False  # the dialogue asks for a yes before `confirmed=True` reaches the skill
    context: bool = False  # follow-ups ("and tomorrow?") re-run it with one slot changed
    model_slots: dict[str, str] = field(default_factory=dict)  # our slot -> the intent model's slot name
    source: str = ""  # "file:line" of the declaration, for messages


@dataclass(frozen=True)
class SkillSpec:
    skill: str
    intents: dict[str, IntentSpec]
    description: str = ""
    path: str = ""


class _LineLoader(yaml.SafeLoader):
    """A SafeLoader whose mappings remember the line of each key (1-based)."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    mapping = _Mapping(loader.construct_mapping(node, deep=True))
    mapping.line = node.start_mark.line + 1
    mapping.key_lines = {key.value: key.start_mark.line + 1 for key, _ in node.value if hasattr(key, "value")}
    return mapping


class _Mapping(dict):
    line = 0
    key_lines: dict[str, int] = {}  # replaced per instance


class _List(list):
    item_lines: list[int] = []  # replaced per instance


def _construct_sequence(loader: _LineLoader, node: yaml.SequenceNode) -> list[Any]:
    items = _List(loader.construct_sequence(node, deep=True))
    items.item_lines = [item.start_mark.line + 1 for item in node.value]
    return items


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def load_skill_spec(path: str | Path) -> SkillSpec:
    """Read and check one skill declaration; raises SkillSpecError with `file:line: problem`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise SkillSpecError(f"{path}: cannot read the skill declaration: {error}") from error
    return parse_skill_spec(text, str(path))


def parse_skill_spec(text: str, source: str = "<skill.yaml>") -> SkillSpec:
    try:
        document = yaml.load(text, Loader=_LineLoader)  # a SafeLoader subclass
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(error, "problem", None) or str(error)
        raise SkillSpecError(f"{where}: not valid YAML ({problem}); check the indentation and quoting") from error
    if not isinstance(document, _Mapping):
        raise SkillSpecError(f"{source}:1: a skill declaration is a mapping with 'skill' and 'intents'")
    _check(document, "skill", str, source)
    intents = document.get("intents")
    if not isinstance(intents, _Mapping) or not intents:
        raise SkillSpecError(f"{_at(source, document, 'intents')}: 'intents' must map intent names to their declarations")
    parsed = {name: _intent(name, body, source, intents) for name, body in intents.items()}
    return SkillSpec(str(document["skill"]), parsed, str(document.get("description", "")), source)


def _intent(name: Any, body: Any, source: str, parent: _Mapping) -> IntentSpec:
    where = _at(source, parent, name)
    if not isinstance(name, str) or not name.replace("_", "").isalnum() or not name.islower():
        raise SkillSpecError(f"{where}: intent name {name!r} must be lower_case_with_underscores")
    if not isinstance(body, _Mapping):
        raise SkillSpecError(f"{where}: intent {name!r} must be a mapping with 'sentences' and 'slots'")
    unknown = set(body) - _INTENT_KEYS
    if unknown:
        raise SkillSpecError(f"{_at(source, body, sorted(unknown)[0])}: unknown key {sorted(unknown)[0]!r} in "
                             f"intent {name!r}; known: {', '.join(sorted(_INTENT_KEYS))}")
    sentences = body.get("sentences", [])
    if not isinstance(sentences, list) or not all(isinstance(item, str) and item.strip() for item in sentences):
        raise SkillSpecError(f"{_at(source, body, 'sentences')}: 'sentences' of {name!r} must be a list of strings")
    slot_bodies = body.get("slots")
    slot_bodies = _Mapping() if slot_bodies is None else slot_bodies
    if not isinstance(slot_bodies, _Mapping):
        raise SkillSpecError(f"{_at(source, body, 'slots')}: 'slots' of {name!r} must map slot names to declarations")
    slots = {slot: _slot(slot, spec, source, slot_bodies) for slot, spec in slot_bodies.items()}
    model_slots = body.get("model_slots", {}) or {}
    if not isinstance(model_slots, dict) or not set(model_slots) <= set(slots):
        raise SkillSpecError(f"{_at(source, body, 'model_slots')}: 'model_slots' must map declared slots of {name!r} "
                             "to the intent model's slot names")
    _check_sentences(name, sentences, slots, source, body)
    return IntentSpec(
        name=name, sentences=tuple(sentences), slots=slots, description=str(body.get("description", "")),
        costs_money=bool(body.get("costs_money", False)), context=bool(body.get("context", False)),
        model_slots={str(key): str(value) for key, value in model_slots.items()}, source=where,
    )


def _slot(name: Any, body: Any, source: str, parent: _Mapping) -> SlotSpec:
    where = _at(source, parent, name)
    if isinstance(body, str):  # shorthand: `date: date`
        body = _Mapping(type=body)
        body.line = parent.key_lines.get(name, parent.line)
    if not isinstance(body, _Mapping):
        raise SkillSpecError(f"{where}: slot {name!r} must be a type name or a mapping with 'type'")
    unknown = set(body) - _SLOT_KEYS
    if unknown:
        key = sorted(unknown)[0]
        raise SkillSpecError(f"{_at(source, body, key)}: unknown key {key!r} in slot {name!r}; "
                             f"known: {', '.join(sorted(_SLOT_KEYS))}")
    kind = body.get("type", "text")
    if kind not in SLOT_TYPES:
        raise SkillSpecError(f"{_at(source, body, 'type')}: slot {name!r} has unknown type {kind!r}; "
                             f"use one of {', '.join(sorted(SLOT_TYPES))}")
    required = bool(body.get("required", False))
    if required and not str(body.get("ask", "")).strip():
        raise SkillSpecError(f"{where}: required slot {name!r} needs 'ask', the question to ask when it is missing")
    return SlotSpec(
        name=str(name), type=kind, required=required, ask=str(body.get("ask", "")).strip(),
        values=_values(body.get("values", []), source, body, name), samples=tuple(map(str, body.get("samples", []))),
        open=bool(body.get("open", False)), default=str(body.get("default", "")), memory=str(body.get("memory", "")),
        currency=str(body.get("currency", "")), units=_units(body.get("units", []), source, body, name, kind),
        description=str(body.get("description", "")).strip(),
    )


def _units(raw: Any, source: str, body: _Mapping, slot: Any, kind: str) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(item, str) and item.strip() for item in raw):
        raise SkillSpecError(f"{_at(source, body, 'units')}: 'units' of slot {slot!r} must be a list of words")
    if kind == "count" and not raw:
        raise SkillSpecError(f"{_at(source, body, 'type')}: count slot {slot!r} needs 'units', the nouns it counts "
                             "(e.g. units: [night, nights])")
    return tuple(item.strip().lower() for item in raw)


def _values(raw: Any, source: str, body: _Mapping, slot: Any) -> dict[str, tuple[str, ...]]:
    if isinstance(raw, list):
        return {str(value).lower(): () for value in raw}
    if isinstance(raw, dict):
        return {str(key).lower(): tuple(str(item).lower() for item in (synonyms or [])) for key, synonyms in raw.items()}
    raise SkillSpecError(f"{_at(source, body, 'values')}: 'values' of slot {slot!r} must be a list or a map of synonyms")


def _check_sentences(intent: str, sentences: list[str], slots: dict[str, SlotSpec], source: str, body: _Mapping) -> None:
    from edge.skills.templates import TemplateError, parse_template

    lines = getattr(sentences, "item_lines", [])
    for index, sentence in enumerate(sentences):
        where = f"{source}:{lines[index]}" if index < len(lines) else _at(source, body, "sentences")
        try:
            used = parse_template(sentence).slot_names()
        except TemplateError as error:
            raise SkillSpecError(f"{where}: {intent}: {error}") from error
        missing = used - set(slots)
        if missing:
            raise SkillSpecError(f"{where}: sentence {sentence!r} of {intent!r} uses "
                                 f"undeclared slot {sorted(missing)[0]!r}; declare it under 'slots'")


def _check(document: _Mapping, key: str, kind: type, source: str) -> None:
    if not isinstance(document.get(key), kind) or not document.get(key):
        raise SkillSpecError(f"{_at(source, document, key)}: '{key}' must be a non-empty {kind.__name__}")


def _at(source: str, mapping: Any, key: Any) -> str:
    line = getattr(mapping, "key_lines", {}).get(key) or getattr(mapping, "line", 0)
    return f"{source}:{line}" if line else source
