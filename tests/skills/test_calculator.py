import time

import pytest

from edge.core.text.normalize import normalize_utterance
from edge.skills.base import SkillRequest
from edge.skills.builtin.arithmetic import DivisionByZeroError, ResultTooLargeError
from edge.skills.builtin.calculator import CalculatorSkill, calculate


def ask(raw: str) -> str:
    """The reply to a raw sentence, normalised the way the pipeline does it."""
    request = SkillRequest(intent="qa_maths", text=normalize_utterance(raw), raw_text=raw)
    reply = CalculatorSkill().handle(request)
    assert reply.card is None
    return reply.text


def value_of(raw: str):
    result = calculate(normalize_utterance(raw).split())
    assert result is not None, raw
    return result.value


def test_the_million_example():
    raw = "What is 2 to the power of 20 plus 20 squared plus 20?"
    assert normalize_utterance(raw) == "what is two to the power of twenty plus twenty squared plus twenty"
    assert ask(raw) == "2 to the power of 20 plus 20 squared plus 20 is 1048996."
    assert value_of(raw) == 1048996
    assert type(value_of(raw)) is int


@pytest.mark.parametrize(
    ("raw", "reply"),
    [
        ("what's five plus three", "5 plus 3 is 8."),
        ("What's 5+3?", "5 plus 3 is 8."),
        ("how much is 12 times 7", "12 times 7 is 84."),
        ("what is 12 x 7", "12 times 7 is 84."),
        ("what is 100 divided by 8", "100 divided by 8 is 12.5."),
        ("what is 100 over 8", "100 divided by 8 is 12.5."),
        ("what is the square root of 144", "The square root of 144 is 12."),
        ("what is the square root of 2", "The square root of 2 is 1.414."),
        ("what is 15 percent of 80", "15 percent of 80 is 12."),
        ("what is 15% of 80", "15 percent of 80 is 12."),
        ("calculate 10 take away 4", "10 minus 4 is 6."),
        ("tell me 7 minus 10", "7 minus 10 is minus 3."),
        ("what is 1 divided by 3", "1 divided by 3 is 0.333."),
        ("what is 0.1 + 0.2", "0.1 plus 0.2 is 0.3."),
        ("what is three point five times two", "3.5 times 2 is 7."),
        ("what is 3 cubed", "3 cubed is 27."),
        ("what is the cube root of 27", "The cube root of 27 is 3."),
        ("what is 2 raised to the power of 10", "2 to the power of 10 is 1024."),
        ("what is 2 to the 10", "2 to the power of 10 is 1024."),
        ("what is 2^-1", "2 to the power of minus 1 is 0.5."),
        ("what is 17 mod 5", "17 modulo 5 is 2."),
        ("what is negative 4 times 3", "Minus 4 times 3 is minus 12."),
        ("add 5 and 3", "5 plus 3 is 8."),
        ("what is the sum of 3 and 4", "3 plus 4 is 7."),
        ("subtract 3 from 10", "10 minus 3 is 7."),
        ("multiply 6 by 7", "6 times 7 is 42."),
        ("divide 10 by 4", "10 divided by 4 is 2.5."),
        ("what does 2 plus 2 equal", "2 plus 2 is 4."),
        ("what is one hundred and five plus five", "105 plus 5 is 110."),
        ("what's 1,000,000 minus 1", "1000000 minus 1 is 999999."),
    ],
)
def test_replies(raw, reply):
    assert ask(raw) == reply


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("2 plus 3 times 4", 14),
        ("2 times 3 plus 4", 10),
        ("10 minus 4 minus 3", 3),  # left to right
        ("100 divided by 10 divided by 2", 5),
        ("2 to the power of 3 to the power of 2", 512),  # powers group to the right
        ("minus 2 squared", -4),  # the power binds tighter than the sign
        ("2 times 3 squared", 18),
        ("the square root of 16 plus 9", 13),  # a root takes the next operand, not the sum
        ("50 percent of 10 plus 1", 6),
        ("2 to the power of 20 plus 20 squared plus 20", 1048996),
        ("2 to the power of 100", 2**100),
        ("9 to the power of 0.5", 3),
    ],
)
def test_precedence(raw, value):
    assert value_of(raw) == value


@pytest.mark.parametrize(
    ("raw", "reply"),
    [
        ("1 divided by 0", "I can't divide by zero."),
        ("what is 5 mod 0", "I can't divide by zero."),
        ("0 to the power of -1", "I can't divide by zero."),
        ("what is the square root of minus 4", "I can't take the square root of a negative number."),
        ("minus 8 to the power of 0.5", "Minus 8 to the power of 0.5 is minus 2.828."),
        ("what is the capital of france", "Sorry, I didn't understand that sum."),
        ("what is five", "Sorry, I didn't understand that sum."),
        ("what is five plus", "Sorry, I didn't understand that sum."),
        ("plus times", "Sorry, I didn't understand that sum."),
        ("", "Sorry, I didn't understand that sum."),
        ("__import__('os').system('ls')", "Sorry, I didn't understand that sum."),
    ],
)
def test_refusals(raw, reply):
    assert ask(raw) == reply


@pytest.mark.parametrize(
    "raw",
    [
        "10 to the power of 10 to the power of 10",
        "9 ^ 9 ^ 9 ^ 9",
        "2 to the power of 1000",
        "1.5 to the power of 1000000",
        "10 to the power of 100 times 10",
        "two" + " squared" * 40,
        "999999999999 to the power of 999999999999",
    ],
)
def test_huge_results_are_refused_quickly(raw):
    started = time.perf_counter()
    assert ask(raw) == "That number is too big for me to work out."
    assert time.perf_counter() - started < 5.0  # refused before computing, not after


def test_largest_allowed_result_is_spoken_approximately():
    assert ask("10 to the power of 100") == "10 to the power of 100 is 10 to the power of 100."
    assert ask("2 to the power of 70") == "2 to the power of 70 is about 1.18 times 10 to the power of 21."


def test_long_input_is_refused():
    assert ask(" plus ".join(["1"] * 30)) == "It's 30."
    assert ask(" plus ".join(["1"] * 100)) == "That sum is too long for me."
    assert ask("minus " * 150 + "1") == "That sum is too long for me."
    assert ask("1 plus " * 5000 + "1") == "That sum is too long for me."


def test_calculate_raises_specific_errors():
    with pytest.raises(DivisionByZeroError):
        calculate("one divided by zero".split())
    with pytest.raises(ResultTooLargeError):
        calculate("ten to the power of ten to the power of ten".split())
    assert calculate([]) is None


def test_long_readback_is_shortened():
    raw = " plus ".join(str(n) for n in range(1, 30))
    assert ask(raw) == "It's 435."
