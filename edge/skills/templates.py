"""Sentence templates: match an utterance against a skill's declared sentences, or expand them.

Syntax (a small subset of Home Assistant's hassil): words, `(a | b)` alternatives, `[optional
words]`, `{slot}` placeholders; they nest. `book a hotel [room] (in | near) {place}`.

Matching is exact over the normalised utterance's words (polite openings like "please" or "can
you" are allowed), every split of the words into slots is tried, and each slot's words must parse
as its type (edge/skills/slots.py, strictly), so a match is a high-precision signal: the dialogue layer trusts it before the intent
model, which does not know a skill's new intents until the model is rebuilt. Expanding gives
labelled training sentences with slot spans (`edge.skills.discovery.collect_skill_examples`).
"""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from edge.core.errors import ConfigError
from edge.core.text.normalize import normalize_utterance

_SPECIAL = "()[]{}|"
_POLITE = tuple(tuple(phrase.split()) for phrase in (
    "please", "hey", "okay", "ok", "so", "now", "can you", "could you", "would you", "will you", "i want to",
    "i'd like to", "i would like to", "i wanna",
))
MAX_SKELETONS = 2000  # expansions enumerated per sentence before sampling


class TemplateError(ConfigError, ValueError):
    """A sentence template is malformed; the message says where."""


@dataclass(frozen=True)
class Word:
    text: str  # normalised; may hold several words

    @property
    def words(self) -> list[str]:
        return self.text.split()


@dataclass(frozen=True)
class Slot:
    name: str


@dataclass(frozen=True)
class Seq:
    items: tuple[Word | Slot | Alt, ...]

    def slot_names(self) -> set[str]:
        names: set[str] = set()
        for item in self.items:
            if isinstance(item, Slot):
                names.add(item.name)
            elif isinstance(item, Alt):
                for option in item.options:
                    names |= option.slot_names()
        return names


@dataclass(frozen=True)
class Alt:
    options: tuple[Seq, ...]
    optional: bool


def parse_template(template: str) -> Seq:
    """Parse one sentence template; raises TemplateError naming the problem and position."""
    parser = _Parser(template)
    seq = parser.sequence(closing="")
    return seq


class _Parser:
    def __init__(self, text: str) -> None:
        self.text, self.pos = text, 0

    def sequence(self, closing: str) -> Seq:
        items: list[Word | Slot | Alt] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char in ")]|":
                if not closing:
                    raise TemplateError(f"unexpected {char!r} at column {self.pos + 1} of {self.text!r}")
                break
            if char in "([":
                self.pos += 1
                items.append(self.alternatives(")" if char == "(" else "]", optional=char == "["))
            elif char == "{":
                end = self.text.find("}", self.pos)
                name = self.text[self.pos + 1 : end].strip() if end > 0 else ""
                if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
                    raise TemplateError(f"bad slot at column {self.pos + 1} of {self.text!r}; write {{slot_name}}")
                items.append(Slot(name))
                self.pos = end + 1
            elif char == "}":
                raise TemplateError(f"unexpected '}}' at column {self.pos + 1} of {self.text!r}")
            else:
                start = self.pos
                while self.pos < len(self.text) and self.text[self.pos] not in _SPECIAL:
                    self.pos += 1
                words = normalize_utterance(self.text[start : self.pos])
                if words:
                    items.append(Word(words))
        return Seq(tuple(items))

    def alternatives(self, closing: str, optional: bool) -> Alt:
        options = [self.sequence(closing)]
        while self.pos < len(self.text) and self.text[self.pos] == "|":
            self.pos += 1
            options.append(self.sequence(closing))
        if self.pos >= len(self.text) or self.text[self.pos] != closing:
            raise TemplateError(f"missing {closing!r} in {self.text!r}")
        self.pos += 1
        return Alt(tuple(options), optional)


Validate = Callable[[str, list[str]], Any]  # (slot name, its words) -> a parsed value, or None to refuse


def match_template(template: Seq, words: list[str], validate: Validate) -> tuple[dict[str, Any], int] | None:
    """Match all of `words` against the template, trying every way to split them into slots
    (each slot's words must pass `validate`). Returns (slot values, literal words matched)."""
    for end, bound in _match(template, words, 0, {}, validate):
        if end == len(words):
            return bound, len(words) - sum(len(value[0]) for value in bound.values())
    return None


def _match(node, words: list[str], pos: int, bound: dict, validate: Validate) -> Iterator[tuple[int, dict]]:
    if isinstance(node, Word):
        size = len(node.words)
        if words[pos : pos + size] == node.words:
            yield pos + size, bound
    elif isinstance(node, Slot):
        for end in range(pos + 1, len(words) + 1):
            value = validate(node.name, words[pos:end])
            if value is not None:
                yield end, {**bound, node.name: (words[pos:end], value)}
    elif isinstance(node, Alt):
        for option in node.options:
            yield from _match(option, words, pos, bound, validate)
        if node.optional:  # after the options: literal words are matched as words, not taken into a slot
            yield pos, bound
    else:
        yield from _match_seq(node.items, 0, words, pos, bound, validate)


def _match_seq(items, index: int, words: list[str], pos: int, bound: dict, validate: Validate):
    if index == len(items):
        yield pos, bound
        return
    for next_pos, next_bound in _match(items[index], words, pos, bound, validate):
        yield from _match_seq(items, index + 1, words, next_pos, next_bound, validate)


def strip_polite(words: list[str]) -> list[str]:
    """Drop polite openings and a closing 'please': 'can you please add milk' -> 'add milk'."""
    words = list(words)
    changed = True
    while changed and words:
        changed = False
        for opening in _POLITE:
            size = len(opening)
            if words[:size] == list(opening) and len(words) > size:
                words, changed = words[size:], True
    while len(words) > 1 and words[-1] in ("please", "thanks", "thank you"):
        words.pop()
    return words


def skeletons(node: Seq | Word | Slot | Alt) -> Iterator[tuple[Word | Slot, ...]]:
    """Every sentence shape the template allows: tuples of words and slots."""
    if isinstance(node, (Word, Slot)):
        yield (node,)
        return
    if isinstance(node, Alt):
        if node.optional:
            yield ()
        for option in node.options:
            yield from skeletons(option)
        return
    for parts in itertools.product(*(list(skeletons(item)) for item in node.items)):
        yield tuple(piece for part in parts for piece in part)


def sample_skeletons(sentence: str, limit: int, seed: int = 0) -> list[tuple[Word | Slot, ...]]:
    """At most `limit` shapes of one sentence, the same ones on every run."""
    shapes = list(itertools.islice(skeletons(parse_template(sentence)), MAX_SKELETONS))
    if len(shapes) <= limit:
        return shapes
    return random.Random(f"{seed}:{sentence}").sample(shapes, limit)
