"""Exact-where-possible arithmetic over a tiny syntax tree, with guards for the huge.

The calculator skill parses words into `Number`/`Unary`/`Binary` nodes; `evaluate` works the
tree out (whole numbers stay exact ints, anything else is a float) and raises a
`CalculationError` whose `spoken` text the skill can say; `render` reads a tree back.
Powers are checked before they are computed, so 10 to the power of 10 to the power of 10 is
refused at once instead of eating memory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from edge.core.errors import BadInputError
from edge.core.text.numbers import format_number_for_speech

MAX_MAGNITUDE = 10**100  # larger intermediate results are refused

_SAID = {
    "plus": "plus", "minus": "minus", "times": "times", "divide": "divided by", "mod": "modulo",
    "of": "of", "power": "to the power of", "squared": "squared", "cubed": "cubed",
    "percent": "percent", "sqrt": "the square root of", "cbrt": "the cube root of",
    "negative": "minus",
}


class CalculationError(BadInputError):
    """The sum was understood but has no answer worth saying; `spoken` says why."""

    spoken = "Sorry, I can't work that out."


class DivisionByZeroError(CalculationError):
    spoken = "I can't divide by zero."


class ResultTooLargeError(CalculationError):
    spoken = "That number is too big for me to work out."


class NotARealNumberError(CalculationError):
    spoken = "That answer isn't a real number."


class NegativeSquareRootError(NotARealNumberError):
    spoken = "I can't take the square root of a negative number."


class ExpressionTooLongError(CalculationError):
    spoken = "That sum is too long for me."


@dataclass(frozen=True)
class Number:
    value: int | float


@dataclass(frozen=True)
class Unary:
    op: str  # negative, squared, cubed, percent, sqrt, cbrt
    operand: Node


@dataclass(frozen=True)
class Binary:
    op: str  # plus, minus, times, divide, mod, of, power
    left: Node
    right: Node


Node = Number | Unary | Binary


def evaluate(tree: Node) -> int | float:
    """The value of a tree; whole numbers stay exact ints. Raises CalculationError."""
    if isinstance(tree, Number):
        return _checked(tree.value)
    if isinstance(tree, Unary):
        return _checked(_apply_unary(tree.op, evaluate(tree.operand)))
    return _checked(_apply_binary(tree.op, evaluate(tree.left), evaluate(tree.right)))


def render(tree: Node) -> str:
    """Read a tree back in words and digits: '2 to the power of 20 plus 20 squared'."""
    if isinstance(tree, Number):
        return format_number_for_speech(tree.value)
    if isinstance(tree, Unary):
        operand = render(tree.operand)
        if tree.op in ("squared", "cubed", "percent"):
            return f"{operand} {_SAID[tree.op]}"
        return f"{_SAID[tree.op]} {operand}"
    return f"{render(tree.left)} {_SAID[tree.op]} {render(tree.right)}"


def _apply_unary(op: str, value: int | float) -> int | float:
    if op == "negative":
        return -value
    if op == "squared":
        return _power(value, 2)
    if op == "cubed":
        return _power(value, 3)
    if op == "percent":
        return _divide(value, 100)
    if op == "sqrt":
        if value < 0:
            raise NegativeSquareRootError(f"square root of {value}")
        if isinstance(value, int) and math.isqrt(value) ** 2 == value:
            return math.isqrt(value)
        return math.sqrt(value)
    root = round(abs(value) ** (1 / 3))
    if isinstance(value, int) and root**3 == abs(value):
        return root if value >= 0 else -root
    return math.copysign(abs(value) ** (1 / 3), value)


def _apply_binary(op: str, left: int | float, right: int | float) -> int | float:
    if op == "plus":
        return left + right
    if op == "minus":
        return left - right
    if op in ("times", "of"):
        return left * right
    if op == "divide":
        return _divide(left, right)
    if op == "mod":
        if right == 0:
            raise DivisionByZeroError("modulo zero")
        return left % right
    return _power(left, right)


def _divide(left: int | float, right: int | float) -> int | float:
    if right == 0:
        raise DivisionByZeroError("division by zero")
    if isinstance(left, int) and isinstance(right, int) and left % right == 0:
        return left // right
    return left / right


def _power(base: int | float, exponent: int | float) -> int | float:
    if isinstance(exponent, float) and exponent.is_integer():
        exponent = int(exponent)
    if base == 0 and exponent < 0:
        raise DivisionByZeroError("zero to a negative power")
    if isinstance(base, int) and isinstance(exponent, int) and exponent >= 0:
        if abs(base) >= 2 and exponent * math.log10(abs(base)) > math.log10(MAX_MAGNITUDE):
            raise ResultTooLargeError(f"{base} to the power of {exponent}")
        return base**exponent
    if base < 0 and isinstance(exponent, float):
        raise NotARealNumberError("fractional power of a negative number")
    try:
        return math.pow(base, exponent)
    except OverflowError as error:
        raise ResultTooLargeError(f"{base} to the power of {exponent}") from error


def _checked(value: int | float) -> int | float:
    if isinstance(value, float) and not math.isfinite(value):
        raise ResultTooLargeError("not finite")
    if abs(value) > MAX_MAGNITUDE:
        raise ResultTooLargeError("beyond the largest result")
    return value
