"""Rhino-style context YAML (Picovoice): expressions per intent and slot value lists, expanded
into labelled examples with slot spans.

    context:
      expressions:
        orderDrink:
          - "[can I get, I want] (a) $size:size $coffeeDrink:drink (please)"
      slots:
        size: [small, large]
        coffeeDrink: [latte, "iced mocha"]

`[a, b]` is a choice, `(a)` or `(a, b)` an optional part, `$type:name` a slot of value list
`type` labelled `name`. An expression with more realisations than `per_expression` is sampled
(seeded: the same examples on every run); otherwise every realisation is listed. Text is
normalised piece by piece so slot spans stay on the right words.
"""

from __future__ import annotations

import itertools
import logging
import random
import re
from dataclasses import dataclass
from pathlib import Path

from distill.data.records import DataFormatError, Example, SlotSpan, require_file
from edge.core.text.normalize import normalize_utterance

log = logging.getLogger(__name__)
_TOKEN = re.compile(r"\[[^\]]*\]|\([^)]*\)|\$[\w.]+:[\w.]+|[^\s\[\]()$]+|\S")


@dataclass(frozen=True)
class Choice:
    options: tuple[str, ...]  # normalised; "" for the empty option of an optional part


@dataclass(frozen=True)
class SlotRef:
    slot_type: str
    name: str


@dataclass(frozen=True)
class Context:
    expressions: dict[str, list[tuple[int, list[Choice | SlotRef]]]]  # intent -> [(line, pieces)]
    slots: dict[str, tuple[str, ...]]  # slot type -> normalised values
    path: Path


def parse_expression(expression: str, where: str) -> list[Choice | SlotRef]:
    pieces: list[Choice | SlotRef] = []
    for token in _TOKEN.findall(expression):
        if token.startswith("$"):
            slot_type, name = token[1:].split(":", 1)
            pieces.append(SlotRef(slot_type, name))
        elif token[0] in "[(":
            closing = "]" if token[0] == "[" else ")"
            if not token.endswith(closing):
                raise DataFormatError(f"{where}: unclosed {token[0]!r} in {expression!r}")
            options = [normalize_utterance(option) for option in token[1:-1].split(",")]
            if not any(options):
                raise DataFormatError(f"{where}: empty {token[0]}{closing} in {expression!r}")
            pieces.append(Choice(tuple(options) + (("",) if token[0] == "(" else ())))
        elif token in "[]()$":
            raise DataFormatError(f"{where}: stray {token!r} in {expression!r}; brackets must pair")
        else:
            pieces.append(Choice((normalize_utterance(token),)))
    return pieces


def read_context(path: Path) -> Context:
    """Parse and check a context file; every error names the file and line."""
    import yaml

    require_file(path)
    try:
        root = yaml.compose(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise DataFormatError(f"{path}{line}: not valid YAML ({getattr(error, 'problem', error)})") from error
    context = _child(_mapping(root, path), "context", path)
    slot_nodes = _mapping(_child(_mapping(context, path), "slots", path), path)
    slots = {key: _values(node, key, path) for key, node in slot_nodes.items()}
    expressions: dict[str, list[tuple[int, list[Choice | SlotRef]]]] = {}
    for intent, node in _mapping(_child(_mapping(context, path), "expressions", path), path).items():
        if node.id != "sequence":
            raise DataFormatError(f"{path}:{node.start_mark.line + 1}: intent {intent!r} needs a list of expressions")
        for item in node.value:
            line = item.start_mark.line + 1
            if item.id != "scalar":
                raise DataFormatError(f"{path}:{line}: an expression must be a quoted string")
            pieces = parse_expression(str(item.value), f"{path}:{line}")
            for piece in pieces:
                if isinstance(piece, SlotRef) and piece.slot_type not in slots:
                    raise DataFormatError(
                        f"{path}:{line}: slot type {piece.slot_type!r} is not declared under context.slots"
                    )
            expressions.setdefault(intent, []).append((line, pieces))
    return Context(expressions, slots, path)


def _mapping(node, path: Path) -> dict:
    if node is None or node.id != "mapping":
        line = f":{node.start_mark.line + 1}" if node is not None else ""
        raise DataFormatError(f"{path}{line}: expected a mapping (key: value)")
    return {key.value: value for key, value in node.value}


def _child(mapping: dict, key: str, path: Path):
    if key not in mapping:
        raise DataFormatError(f"{path}: missing '{key}:'; a Rhino context has context.expressions and context.slots")
    return mapping[key]


def _values(node, slot_type: str, path: Path) -> tuple[str, ...]:
    line = node.start_mark.line + 1
    if node.id != "sequence" or not node.value:
        raise DataFormatError(f"{path}:{line}: slot type {slot_type!r} needs a non-empty list of values")
    values = []
    for item in node.value:
        value = normalize_utterance(str(item.value)) if item.id == "scalar" else ""
        if not value:
            raise DataFormatError(
                f"{path}:{item.start_mark.line + 1}: slot {slot_type!r} has an empty or non-text value"
            )
        values.append(value)
    return tuple(values)


def realisations(pieces: list[Choice | SlotRef], slots: dict[str, tuple[str, ...]]) -> int:
    count = 1
    for piece in pieces:
        count *= len(piece.options) if isinstance(piece, Choice) else len(slots[piece.slot_type])
    return count


def expand_expression(
    pieces: list[Choice | SlotRef], intent: str, slots: dict[str, tuple[str, ...]], limit: int, rng: random.Random
) -> list[Example]:
    """Every realisation when there are at most `limit`, else `limit` seeded random draws (deduplicated)."""
    axes = [piece.options if isinstance(piece, Choice) else slots[piece.slot_type] for piece in pieces]
    if realisations(pieces, slots) <= limit:
        picks = list(itertools.product(*axes))
    else:
        picks = list(dict.fromkeys(tuple(rng.choice(axis) for axis in axes) for _ in range(limit)))
    return [_render(pieces, pick, intent) for pick in picks]


def _render(pieces: list[Choice | SlotRef], pick: tuple[str, ...], intent: str) -> Example:
    text, spans = "", []
    for piece, words in zip(pieces, pick, strict=True):
        if not words:
            continue
        start = len(text) + (1 if text else 0)
        text = f"{text} {words}" if text else words
        if isinstance(piece, SlotRef):
            spans.append(SlotSpan(piece.name, start, len(text)))
    return Example(text, intent, tuple(spans))


def expand_context(context: Context, per_expression: int = 20, seed: int = 13) -> list[Example]:
    """All intents' examples, in file order, duplicates dropped."""
    rng = random.Random(seed)
    examples: dict[tuple[str, str], Example] = {}
    for intent, expressions in context.expressions.items():
        for _line, pieces in expressions:
            for example in expand_expression(pieces, intent, context.slots, per_expression, rng):
                examples.setdefault((example.text, example.intent), example)
    log.info("%s: %d examples from %d intents", context.path.name, len(examples), len(context.expressions))
    return list(examples.values())
