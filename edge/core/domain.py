"""What a bundle listens for: its grammar (expressions per intent) and its slots' declared values.

    domain = Domain.from_json(json.loads(Path("bundle/domain.json").read_text()), "bundle/domain.json")
    domain.slot_types()        # {"size": "size", "drink": "coffeeDrink"}: slot name -> value list
    domain.words()             # every word the domain can say (for the recogniser's bias)

`distill rhino` writes `domain.json` into the bundle from a Rhino context (`[a, b]` choices,
`(a)` optional parts, `$type:name` slot references); the intent bundle's loader reads it, the
ASR (edge.asr) decodes against it and the intent runtime (edge.nlu) snaps slot spans to its
values. Both engines import this module, never each other. `edge.core.grammar` compiles a
domain into a word graph that parses a sentence into its intent and slots.

    {"format_version": 1, "closed": true,
     "slots": {"size": ["small", "large"]},
     "intents": {"orderDrink": [[{"choice": ["i want", "give me"]}, {"choice": ["a", ""]},
                                 {"slot": "size", "name": "size"}]]}}

Text is stored normalised (edge.core.text.normalize: lower case, numbers as words).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edge.core.errors import ModelLoadError

DOMAIN_FORMAT_VERSION = 1
DOMAIN_FILE = "domain.json"


class DomainError(ModelLoadError):
    """domain.json is malformed or from a newer format; the message names the field."""


@dataclass(frozen=True)
class Choice:
    """One of several phrases; "" is the empty option of an optional part."""

    options: tuple[str, ...]


@dataclass(frozen=True)
class SlotRef:
    """A slot: any value of the list `slot_type`, labelled `name` in the parse."""

    slot_type: str
    name: str


Piece = Choice | SlotRef


@dataclass(frozen=True)
class Domain:
    intents: dict[str, tuple[tuple[Piece, ...], ...]]  # intent -> its expressions
    slots: dict[str, tuple[str, ...]]  # slot type -> declared values
    closed: bool = True  # a closed grammar (a Rhino context): nothing outside it is for this bundle

    def slot_types(self) -> dict[str, str]:
        """Slot name -> the slot type whose values it takes (the first reference wins)."""
        names: dict[str, str] = {}
        for expressions in self.intents.values():
            for pieces in expressions:
                for piece in pieces:
                    if isinstance(piece, SlotRef):
                        names.setdefault(piece.name, piece.slot_type)
        return names

    def words(self) -> set[str]:
        """Every word of the expressions and the slot values."""
        found: set[str] = set()
        for values in self.slots.values():
            for value in values:
                found.update(value.split())
        for expressions in self.intents.values():
            for pieces in expressions:
                for piece in pieces:
                    if isinstance(piece, Choice):
                        for option in piece.options:
                            found.update(option.split())
        return found

    def to_json(self) -> dict[str, Any]:
        def piece_json(piece: Piece) -> dict[str, Any]:
            if isinstance(piece, SlotRef):
                return {"slot": piece.slot_type, "name": piece.name}
            return {"choice": list(piece.options)}

        return {
            "format_version": DOMAIN_FORMAT_VERSION,
            "closed": self.closed,
            "slots": {name: list(values) for name, values in self.slots.items()},
            "intents": {intent: [[piece_json(p) for p in pieces] for pieces in expressions]
                        for intent, expressions in self.intents.items()},
        }

    @classmethod
    def from_json(cls, data: Any, source: str) -> Domain:
        if not isinstance(data, dict):
            raise DomainError(f"{source}: must hold a JSON object")
        version = data.get("format_version")
        if not isinstance(version, int) or version > DOMAIN_FORMAT_VERSION:
            raise DomainError(f"{source}: 'format_version' {version!r} is not one this runtime reads "
                              f"(≤ {DOMAIN_FORMAT_VERSION}); upgrade edge or re-run `distill rhino`")
        slots = data.get("slots")
        if not isinstance(slots, dict) or not all(_strings(v) and v for v in slots.values()):
            raise DomainError(f"{source}: 'slots' must map each slot type to a non-empty list of strings")
        intents = data.get("intents")
        if not isinstance(intents, dict) or not intents:
            raise DomainError(f"{source}: 'intents' must map each intent to a list of expressions")
        parsed: dict[str, tuple[tuple[Piece, ...], ...]] = {}
        for intent, expressions in intents.items():
            if not isinstance(expressions, list):
                raise DomainError(f"{source}: intents.{intent} must be a list of expressions")
            parsed[intent] = tuple(
                tuple(_piece(p, f"{source}: intents.{intent}[{i}]", slots) for p in pieces)
                for i, pieces in enumerate(_lists(expressions, f"{source}: intents.{intent}"))
            )
        return cls(parsed, {k: tuple(v) for k, v in slots.items()}, bool(data.get("closed", True)))


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _lists(items: list, where: str) -> list[list]:
    if not all(isinstance(item, list) for item in items):
        raise DomainError(f"{where}: each expression must be a list of pieces")
    return items


def _piece(data: Any, where: str, slots: dict[str, list[str]]) -> Piece:
    if isinstance(data, dict) and _strings(data.get("choice")) and data["choice"]:
        return Choice(tuple(data["choice"]))
    if isinstance(data, dict) and isinstance(data.get("slot"), str) and isinstance(data.get("name"), str):
        if data["slot"] not in slots:
            raise DomainError(f"{where}: slot type {data['slot']!r} is not declared under 'slots'")
        return SlotRef(data["slot"], data["name"])
    raise DomainError(f"{where}: a piece is {{'choice': [phrases]}} or {{'slot': type, 'name': name}}, got {data!r}")
