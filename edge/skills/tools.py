"""The installed skills' declared intents as OpenAI-compatible function tools, for the cloud LLM.

    tools = skill_tools(registry.skills)       # [{"type": "function", "function": {"name": "hotel_book", …}}]
    values = tool_arguments(spec, {"place": "London", "budget": "150 pounds"}, now)   # slot -> SlotValue

Each declared intent (edge/skills/spec.py) is one tool: its name, its description, and a JSON
schema of its slots (a listed value is an `enum`; a count an integer; a date, time, duration or
amount of money a string in words, read back by the slot's own parser). A skill that is not set up
(`Skill.available` is False, e.g. no smart-home hub) offers no tools. The model's arguments are
untrusted: each is read with the slot's parser, as if the user had said it, and one that does not
parse is left out (the dialogue then asks for it, as it would ask the user).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from edge.core.text.normalize import normalize_utterance
from edge.skills.base import Skill
from edge.skills.matcher import read_slot
from edge.skills.slots import SlotValue
from edge.skills.spec import IntentSpec, SlotSpec

# How each slot type is described to the model (it answers in words; the slot's parser reads them).
_WORDS = {
    "date": "a day, as said: 'today', 'tomorrow', 'friday', 'next monday'",
    "time": "a time of day, e.g. '7:30 am', 'half past six', 'noon'",
    "duration": "a length of time, e.g. '10 minutes', 'an hour and a half'",
    "datetime": "a moment, e.g. 'in 10 minutes', 'at 5 pm', 'tomorrow at 9 am'",
    "money": "an amount with its currency, e.g. '200 yuan', '150 pounds'",
    "quantity": "a number with its unit, e.g. '10 miles', '2 cups'",
    "unit": "a unit name, e.g. 'kilometers', 'fahrenheit'",
}
MAX_ENUM = 64  # a longer list of values is described, not enumerated


def skill_tools(skills: Iterable[Skill]) -> list[dict[str, Any]]:
    """One function tool per declared intent of the skills that are set up, in registration order."""
    tools = []
    for skill in skills:
        spec = skill.spec
        if spec is None:
            continue
        for intent in spec.intents.values():
            if skill.available(intent.name):
                tools.append(intent_tool(intent, spec.description))
    return tools


def intent_tool(intent: IntentSpec, skill_description: str = "") -> dict[str, Any]:
    properties = {name: _slot_schema(slot) for name, slot in intent.slots.items()}
    parameters: dict[str, Any] = {"type": "object", "properties": properties}
    required = [name for name, slot in intent.slots.items() if slot.required]
    if required:
        parameters["required"] = required
    description = intent.description or _from_sentence(intent) or skill_description or intent.name.replace("_", " ")
    if intent.costs_money:
        description += " (costs money: the user is asked to confirm before it is done)"
    return {"type": "function", "function": {"name": intent.name, "description": description, "parameters": parameters}}


def tool_arguments(intent: IntentSpec, arguments: Mapping[str, Any], now: datetime) -> dict[str, SlotValue]:
    """The model's arguments read as slot values; unknown names and values that do not parse are dropped."""
    values = {}
    for name, raw in arguments.items():
        slot = intent.slots.get(name)
        if slot is None or raw is None or isinstance(raw, (dict, list)):
            continue
        words = normalize_utterance(str(raw)).split()
        value = read_slot(slot, words, now) if words else None
        if value is None and slot.type == "count" and slot.units and words:  # 2 -> "two nights"
            value = read_slot(slot, [*words, slot.units[-1]], now)
        if value is not None:
            values[name] = value
    return values


def _slot_schema(slot: SlotSpec) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    description = slot.description or slot.ask or slot.name.replace("_", " ")
    if slot.type in ("number",):
        schema = {"type": "number"}
    elif slot.type == "count":
        schema = {"type": "integer", "minimum": 1}
        counted = next((unit for unit in slot.units if unit.endswith(("s", "people"))), slot.units[0] if slot.units else "")
        description = slot.description or f"how many {counted}"
    elif slot.type in _WORDS:
        description += f": {_WORDS[slot.type]}"
    elif slot.type in ("choice", "place") and slot.values:
        names = list(slot.values)
        if slot.open or len(names) > MAX_ENUM:
            description += f", e.g. {', '.join(names[:8])}"
        else:
            schema["enum"] = names
    schema["description"] = description
    return schema


def _from_sentence(intent: IntentSpec) -> str:
    """'(turn | switch) on [the] [{room}] (light | lights | lamp)' -> 'turn on the room light'."""
    if not intent.sentences:
        return ""
    import re

    text = intent.sentences[0]
    text = re.sub(r"\(([^|)]*)[^)]*\)", r"\1", text)
    text = re.sub(r"[\[\]{}]", "", text)
    return " ".join(text.split()).capitalize()
