"""Numbers as English words, both ways.

The intent model was trained on HWU64, where people wrote numbers as words ("eleven am"), but
Whisper writes digits ("11 a.m."). `int_to_words` lets the NLU front end spell digits out so
the model sees what it was trained on; the calculator and the alarm skill read words back
into numbers with `parse_number_words`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand"))


def int_to_words(number: int) -> str:
    """Spell a whole number in English words: 1048996 -> 'one million forty eight thousand …'."""
    if number < 0:
        return "minus " + int_to_words(-number)
    if number < 20:
        return _ONES[number]
    if number < 100:
        tens, ones = divmod(number, 10)
        return _TENS[tens] + ("" if ones == 0 else " " + _ONES[ones])
    if number < 1000:
        hundreds, rest = divmod(number, 100)
        return _ONES[hundreds] + " hundred" + ("" if rest == 0 else " " + int_to_words(rest))
    for scale, name in _SCALES:
        if number >= scale:
            head, rest = divmod(number, scale)
            return int_to_words(head) + " " + name + ("" if rest == 0 else " " + int_to_words(rest))
    raise ValueError(f"cannot spell {number!r}")  # unreachable for ints


def decimal_to_words(text: str) -> str:
    """Spell a digit string that may hold a decimal point: '3.25' -> 'three point two five'."""
    whole, _, fraction = text.partition(".")
    words = int_to_words(int(whole)) if whole else "zero"
    if fraction:
        words += " point " + " ".join(_ONES[int(digit)] for digit in fraction)
    return words


_WORD_VALUES = {word: value for value, word in enumerate(_ONES)} | {
    word: 10 * value for value, word in enumerate(_TENS) if value >= 2
}
_SCALE_VALUES = {name: scale for scale, name in _SCALES}
_DIGITS = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?")
_MAX_DIGIT_CHARACTERS = 60  # longer digit strings are not read as numbers (no giant ints)
_EXACT_DIGITS = 15  # integers with more digits are spoken approximately


def parse_number_words(words: Sequence[str], start: int = 0) -> tuple[int | float, int] | None:
    """Read a number at `words[start]`: English words or digits.

    Returns (value, tokens consumed), or None when no number starts there. Whole numbers come
    back as int, anything with a fraction as float:
    ['one', 'million', 'forty', 'eight', 'thousand', …] -> (1048996, 9); ['three', 'point',
    'five'] -> (3.5, 3); ['a', 'hundred'] -> (100, 2); ['1,000'] -> (1000, 1); ['half'] -> (0.5, 1).
    The sign is not part of the number: 'minus' is left to the caller.
    """
    if start < 0 or start >= len(words):
        return None
    first = words[start]
    if first == "half" or (first == "a" and _word(words, start + 1) == "half"):
        return 0.5, 1 if first == "half" else 2
    if first == "point":
        fraction, used = _fraction_digits(words, start + 1)
        return (fraction, used + 1) if used else None
    parsed = _digits(words, start) if _DIGITS.fullmatch(first) else _whole_words(words, start)
    if parsed is None:
        return None
    value, index = parsed
    if _word(words, index) == "point":
        fraction, used = _fraction_digits(words, index + 1)
        if used:
            return value + fraction, index + 1 + used - start
    if words[index:index + 3] == ["and", "a", "half"]:
        return value + 0.5, index + 3 - start
    return value, index - start


def format_number_for_speech(value: float) -> str:
    """What the speaker says for a result: 1048996 -> '1048996', 2.0 -> '2', 1/3 -> '0.333',
    -4 -> 'minus 4', 10**20 -> '10 to the power of 20', 1.234e30 -> 'about 1.23 times 10 to the
    power of 30'. Piper reads digit strings aloud, so numbers stay digits."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"expected an int or float, got {type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"cannot speak {value!r}")
    if value < 0:
        return "minus " + format_number_for_speech(-value)
    if isinstance(value, float) and value.is_integer() and value < 10**_EXACT_DIGITS:
        value = int(value)
    if isinstance(value, int):
        return str(value) if value < 10**_EXACT_DIGITS else _scientific(value)
    if value >= 10**_EXACT_DIGITS:
        return _scientific(value)
    return _rounded(value)


def _word(words: Sequence[str], index: int) -> str:
    return words[index] if 0 <= index < len(words) else ""


def _digits(words: Sequence[str], start: int) -> tuple[int | float, int] | None:
    """'1,000' or '2.5', optionally followed by a scale: '2 million'; (value, index after)."""
    token = words[start].replace(",", "")
    if len(token) > _MAX_DIGIT_CHARACTERS:
        return None
    value: int | float = float(token) if "." in token else int(token)
    following = _word(words, start + 1)
    scale = 100 if following == "hundred" else _SCALE_VALUES.get(following)
    return (value * scale, start + 2) if scale else (value, start + 1)


def _fraction_digits(words: Sequence[str], index: int) -> tuple[float, int]:
    """Digits after 'point', one word or digit each: ['two', 'five'] -> (0.25, 2)."""
    digits = ""
    while index + len(digits) < len(words):
        word = words[index + len(digits)]
        value = _WORD_VALUES.get(word)
        if value is not None and value < 10:
            digits += str(value)
        elif word.isdigit() and len(word) == 1:
            digits += word
        else:
            break
    return (float("0." + digits), len(digits)) if digits else (0.0, 0)


def _whole_words(words: Sequence[str], start: int) -> tuple[int, int] | None:
    """A whole number in words; returns (value, index after it)."""
    if words[start] == "zero":
        return 0, start + 1
    state = _WordsState()
    index = start
    if words[start] == "a" and _word(words, start + 1) in ("hundred", *_SCALE_VALUES):
        state.group, state.last, index = 1, "one", start + 1
    while index < len(words) and state.take(words[index]):
        index += 1
    if _word(words, index) == "and" and state.last in ("hundred", "scale"):
        tail = _small_number_after_and(words, index + 1)
        if tail is not None:
            return state.total + state.group + tail[0], tail[1]
    if not state.last:
        return None
    return state.total + state.group, index


class _WordsState:
    """Running value of a number in words: completed scales in `total`, the rest in `group`."""

    def __init__(self) -> None:
        self.total = 0
        self.group = 0  # below a thousand, not yet scaled
        self.last = ""  # kind of the previous word: one, teen, ten, hundred, scale
        self.last_scale = 10**18

    def take(self, word: str) -> bool:
        """Add one word; False when it cannot continue this number."""
        value = _WORD_VALUES.get(word)
        if value:  # zero only stands alone
            kind = "one" if value < 10 else "teen" if value < 20 else "ten"
            follows_tens = kind == "one" and self.last == "ten"
            if self.last not in ("", "scale", "hundred") and not follows_tens:
                return False
            self.group, self.last = self.group + value, kind
        elif word == "hundred" and self.last in ("one", "teen", "ten") and 0 < self.group < 100:
            self.group, self.last = self.group * 100, "hundred"
        elif word in _SCALE_VALUES and self.group > 0 and _SCALE_VALUES[word] < self.last_scale:
            self.last_scale = _SCALE_VALUES[word]
            self.total, self.group, self.last = self.total + self.group * self.last_scale, 0, "scale"
        else:
            return False
        return True


def _small_number_after_and(words: Sequence[str], index: int) -> tuple[int, int] | None:
    """'… hundred and five' reads as 105, but only when what follows 'and' is under a hundred
    and is not itself followed by 'hundred' or a scale ('a hundred and two thousand')."""
    value = _WORD_VALUES.get(_word(words, index))
    if not value:
        return None
    end = index + 1
    following = _WORD_VALUES.get(_word(words, end))
    if value >= 20 and value % 10 == 0 and following is not None and 0 < following < 10:
        value, end = value + following, end + 1
    if _word(words, end) in ("hundred", "point", *_SCALE_VALUES):
        return None
    return value, end


def _rounded(value: float) -> str:
    """Three decimals for ordinary values, three significant figures for tiny ones."""
    if value == 0:
        return "0"
    decimals = 3 if value >= 0.001 else 2 - math.floor(math.log10(value))
    text = f"{value:.{decimals}f}".rstrip("0").rstrip(".")
    return text if text not in ("", "0") else "0"


def _scientific(value: float) -> str:
    exponent = len(str(value)) - 1 if isinstance(value, int) else math.floor(math.log10(value))
    mantissa = value / 10**exponent
    if isinstance(value, int) and value == 10**exponent:
        return f"10 to the power of {exponent}"
    return f"about {_rounded(round(mantissa, 2))} times 10 to the power of {exponent}"
