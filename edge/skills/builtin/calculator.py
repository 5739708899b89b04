"""Spoken arithmetic: 'what is two to the power of twenty plus twenty squared plus twenty'.

The words are tokenised against a small phrase table and parsed by a recursive-descent parser
into a tiny syntax tree; nothing the user says is ever handed to eval. Evaluation keeps whole
numbers exact and refuses results too large to say (and too slow to compute).

Precedence, loosest first: plus/minus; times/divided by/of/modulo; a leading minus; powers
(right-associative, so 10 to the power of 10 to the power of 10 is 10**(10**10) and refused);
squared/cubed/percent; square and cube roots of what follows.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from edge.core.text.numbers import format_number_for_speech, parse_number_words
from edge.skills.base import Skill, SkillReply, SkillRequest
from edge.skills.builtin.arithmetic import (
    Binary,
    CalculationError,
    ExpressionTooLongError,
    Node,
    Number,
    Unary,
    evaluate,
    render,
)

logger = logging.getLogger(__name__)

MAX_WORDS = 200  # longer sums are refused before they are read ('twenty one' is two words)
MAX_TOKENS = 80  # numbers and operators; bounds the parser's recursion
MAX_ECHO_CHARACTERS = 100  # longer expressions are not read back, only the result

_PHRASES: dict[tuple[str, ...], str] = {
    ("plus",): "plus", ("+",): "plus", ("and",): "plus", ("add",): "plus",
    ("added", "to"): "plus",
    ("minus",): "minus", ("-",): "minus", ("take", "away"): "minus", ("less",): "minus",
    ("negative",): "negative",
    ("times",): "times", ("x",): "times", ("*",): "times", ("multiplied", "by"): "times",
    ("divided", "by"): "divide", ("over",): "divide", ("/",): "divide",
    ("divide", "by"): "divide",
    ("mod",): "mod", ("modulo",): "mod", ("of",): "of",
    ("to", "the", "power", "of"): "power", ("to", "the", "power"): "power",
    ("raised", "to", "the", "power", "of"): "power", ("raised", "to", "the", "power"): "power",
    ("raised", "to", "the"): "power", ("raised", "to"): "power", ("to", "the"): "power",
    ("^",): "power", ("**",): "power",
    ("squared",): "squared", ("cubed",): "cubed", ("percent",): "percent",
    ("per", "cent"): "percent",
    ("square", "root", "of"): "sqrt", ("square", "root"): "sqrt", ("sqrt",): "sqrt",
    ("cube", "root", "of"): "cbrt", ("cube", "root"): "cbrt",
    ("the", "square", "root", "of"): "sqrt", ("the", "cube", "root", "of"): "cbrt",
}
_LONGEST_PHRASE = max(len(phrase) for phrase in _PHRASES)
_LEADING_FILLER = (
    ("how", "much", "is"), ("how", "much", "does"), ("how", "much", "are"), ("what", "is"),
    ("what", "does"), ("what", "would"), ("what", "are"), ("what's",), ("whats",),
    ("calculate",), ("compute",), ("tell", "me"), ("can", "you"), ("could", "you"),
    ("please",), ("olly",), ("hey",), ("ok",), ("okay",), ("work", "out"), ("solve",),
    ("the", "answer", "to"), ("the", "result", "of"), ("the", "value", "of"), ("the",),
)
_TRAILING_FILLER = (
    ("equal",), ("equals",), ("is",), ("please",), ("for", "me"), ("make",), ("come", "to"),
    ("be",), ("exactly",),
)
# 'add five and three', 'subtract two from ten': operator first, operands split by a word.
_PREFIX_FORMS: dict[tuple[str, ...], tuple[str, tuple[str, ...], bool]] = {
    ("add",): ("plus", ("to", "and"), False),
    ("sum", "of"): ("plus", ("and",), False),
    ("subtract",): ("minus", ("from",), True),
    ("multiply",): ("times", ("by", "and"), False),
    ("product", "of"): ("times", ("and",), False),
    ("divide",): ("divide", ("by",), False),
}


@dataclass(frozen=True)
class Calculation:
    expression: str  # the sum as it is read back: '2 to the power of 20 plus 20 squared'
    value: int | float


class _Unparsable(Exception):
    pass


def calculate(words: Sequence[str]) -> Calculation | None:
    """Work out the sum in normalised words; None when they hold no arithmetic.

    Raises a CalculationError subclass when the sum has no sayable answer.
    """
    words = _split_symbols(words)
    if len(words) > MAX_WORDS:
        raise ExpressionTooLongError(f"{len(words)} words")
    words = _strip_filler(words)
    tree = _parse_prefix_form(words) or parse_expression(words)
    if tree is None or isinstance(tree, Number):
        return None
    return Calculation(expression=render(tree), value=evaluate(tree))


def parse_expression(words: Sequence[str]) -> Node | None:
    """Parse infix arithmetic words into a tree; None when they are not a whole sum."""
    tokens = tokenize(words)
    if not tokens:
        return None
    if len(tokens) > MAX_TOKENS:
        raise ExpressionTooLongError(f"{len(tokens)} numbers and operators")
    parser = _Parser(tokens)
    try:
        tree = parser.expression()
    except _Unparsable:
        return None
    return tree if parser.at_end() else None


def tokenize(words: Sequence[str]) -> list[int | float | str] | None:
    """Numbers become values, operator phrases their names; None on any other word."""
    tokens: list[int | float | str] = []
    index = 0
    while index < len(words):
        number = parse_number_words(words, index)
        if number is not None:
            tokens.append(number[0])
            index += number[1]
            continue
        for length in range(min(_LONGEST_PHRASE, len(words) - index), 0, -1):
            op = _PHRASES.get(tuple(words[index:index + length]))
            if op is not None:
                tokens.append(op)
                index += length
                break
        else:
            return None
    return tokens


class _Parser:
    def __init__(self, tokens: list[int | float | str]) -> None:
        self.tokens = tokens
        self.index = 0

    def at_end(self) -> bool:
        return self.index == len(self.tokens)

    def _take(self, *ops: str) -> str | None:
        if not self.at_end() and self.tokens[self.index] in ops:
            self.index += 1
            return str(self.tokens[self.index - 1])
        return None

    def expression(self) -> Node:
        tree = self.term()
        while (op := self._take("plus", "minus")) is not None:
            tree = Binary(op, tree, self.term())
        return tree

    def term(self) -> Node:
        tree = self.unary()
        while (op := self._take("times", "divide", "mod", "of")) is not None:
            tree = Binary(op, tree, self.unary())
        return tree

    def unary(self) -> Node:
        if self._take("minus", "negative") is not None:
            return Unary("negative", self.unary())
        if self._take("plus") is not None:
            return self.unary()
        return self.power()

    def power(self) -> Node:
        base = self.postfix()
        if self._take("power") is not None:
            return Binary("power", base, self.unary())
        return base

    def postfix(self) -> Node:
        tree = self.primary()
        while (op := self._take("squared", "cubed", "percent")) is not None:
            tree = Unary(op, tree)
        return tree

    def primary(self) -> Node:
        if (op := self._take("sqrt", "cbrt")) is not None:
            return Unary(op, self.unary())
        if self.at_end() or isinstance(self.tokens[self.index], str):
            raise _Unparsable
        self.index += 1
        return Number(self.tokens[self.index - 1])


def _split_symbols(words: Sequence[str]) -> list[str]:
    """'^-' and '*-' reach us as one word when typed without spaces; split them."""
    split: list[str] = []
    for word in words:
        if len(word) > 1 and set(word) <= set("+-*/^"):
            split.extend(word.replace("**", "^"))
        else:
            split.append(word)
    return split


def _strip_filler(words: list[str]) -> list[str]:
    changed = True
    while changed and words:
        changed = False
        for phrase in _LEADING_FILLER:
            if tuple(words[: len(phrase)]) == phrase:
                words, changed = words[len(phrase):], True
        for phrase in _TRAILING_FILLER:
            if len(words) > len(phrase) and tuple(words[-len(phrase):]) == phrase:
                words, changed = words[: -len(phrase)], True
    return words


def _parse_prefix_form(words: list[str]) -> Node | None:
    """'add five and three', 'subtract two from ten', 'multiply six by seven'."""
    for prefix, (op, separators, reverse) in _PREFIX_FORMS.items():
        if tuple(words[: len(prefix)]) != prefix:
            continue
        rest = words[len(prefix):]
        for index, word in enumerate(rest):
            if word not in separators:
                continue
            first, second = parse_expression(rest[:index]), parse_expression(rest[index + 1:])
            if first is not None and second is not None:
                return Binary(op, second, first) if reverse else Binary(op, first, second)
    return None


class CalculatorSkill(Skill):
    """Answers `qa_maths` by working out the sum in the words of the request."""

    name: ClassVar[str] = "calculator"
    intents: ClassVar[tuple[str, ...]] = ("qa_maths",)

    def handle(self, request: SkillRequest) -> SkillReply:
        try:
            result = calculate(request.text.split())
        except CalculationError as error:
            logger.info("refused sum %r: %s", request.text, error)
            return SkillReply(text=error.spoken)
        if result is None:
            return SkillReply(text="Sorry, I didn't understand that sum.")
        answer = format_number_for_speech(result.value)
        if len(result.expression) > MAX_ECHO_CHARACTERS:
            return SkillReply(text=f"It's {answer}.")
        expression = result.expression[0].upper() + result.expression[1:]
        return SkillReply(text=f"{expression} is {answer}.")
