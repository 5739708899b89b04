"""How timers and alarms are named and said: "the egg timer", "about 9 minutes left".

Pure functions over normalised words (edge/skills/builtin/alarms.py uses them):

    timer_name("set an egg timer for five minutes".split())       # 'egg'
    timer_name("set a timer for ten minutes for the pasta".split())  # 'pasta'
    describe_left(timedelta(minutes=8, seconds=40))                 # 'about 9 minutes'
    timer_title("egg", timedelta(minutes=5))                        # 'egg timer'
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from edge.core.text.numbers import parse_number_words
from edge.skills.phrasing import describe_duration
from edge.skills.timeparse import parse_duration

# Words that may stand between "a" and "timer" without being its name ("set a new ten minute timer").
_NOT_NAMES = frozenset(
    "a an in at the my our me set start make create new another second third quick kitchen timer timers alarm alarms "
    "for of please can you could would i want to up and one minute minutes second seconds hour hours min mins "
    "sec secs half quarter called named labelled labeled".split()
)
_NAMING = ("called", "named", "labelled", "labeled")
_VERBS = ("set", "start", "make", "create")  # "set in egg timer" (as "set an egg timer" is often heard)
# Questions about what is left on a timer: "how long is left", "how much longer", "time remaining".
LEFT_WORDS = frozenset({"left", "remaining", "remain", "longer", "until", "till", "before", "go"})


def timer_name(words: Sequence[str]) -> str:
    """The name a timer request gives ('' none): 'egg timer', 'a timer called pasta', 'a timer for the eggs'."""
    words = list(words)
    for index, word in enumerate(words):
        if word in _NAMING and index + 1 < len(words):
            return _name_phrase(words[index + 1 :])
    if "timer" in words:
        before = _name_before(words, words.index("timer"))
        if before:
            return before
    for index, word in enumerate(words):  # "a timer for the pasta", "a ten minute timer for my tea"
        if word == "for" and index + 1 < len(words) and parse_duration(words, index + 1) is None:
            rest = words[index + 1 :]
            if rest[:1] in (["the"], ["my"], ["our"]) and parse_number_words(rest[1:2]) is None:
                return _name_phrase(rest[1:])
    return ""


def _name_before(words: list[str], timer_at: int) -> str:
    """The words just before 'timer' that are not a duration or a filler: 'an egg timer' -> 'egg'."""
    start = timer_at
    while start > 0 and words[start - 1] not in ("a", "an", "the", "my", "our", "another", *_VERBS):
        start -= 1
    if start == 0:
        return ""
    kept: list[str] = []
    index = start
    while index < timer_at:
        duration = parse_duration(words[:timer_at] + ["x"], index)
        if duration is None and index + 1 < timer_at:  # "ten minute": a unit in the singular
            duration = _singular_duration(words, index, timer_at)
        if duration is not None:
            index += duration[1]
            continue
        if words[index] not in _NOT_NAMES and parse_number_words([words[index]]) is None:
            kept.append(words[index])
        index += 1
    return " ".join(kept)


def _singular_duration(words: list[str], index: int, end: int) -> tuple[timedelta, int] | None:
    number = parse_number_words(words[index:end])
    if number is None or index + number[1] >= end:
        return None
    unit = words[index + number[1]]
    if unit in ("minute", "second", "hour", "min", "sec"):
        return timedelta(), number[1] + 1
    return None


def _name_phrase(words: list[str]) -> str:
    """A name up to a duration or the end: 'pasta for ten minutes' -> 'pasta'."""
    kept: list[str] = []
    for index, word in enumerate(words):
        if word in ("for", "in", "of", "please") or parse_duration(words, index) is not None:
            break
        kept.append(word)
    while kept and kept[0] in ("the", "my", "our", "a", "an"):
        kept.pop(0)
    if kept and kept[-1] == "timer":
        kept.pop()
    return " ".join(kept[:4])


def timer_title(name: str, duration: timedelta) -> str:
    """'egg timer', or for an unnamed one 'timer for 20 minutes'."""
    return f"{name} timer" if name else f"timer for {describe_duration(duration)}"


def describe_left(left: timedelta) -> str:
    """What is left, rounded as people say it: '40 seconds', '1 minute and 20 seconds', 'about 9 minutes',
    'about 1 hour and 5 minutes'."""
    seconds = max(0, round(left.total_seconds()))
    if seconds < 120:
        return describe_duration(timedelta(seconds=seconds))
    minutes, rest = divmod(seconds, 60)
    rounded = minutes + (1 if rest >= 30 else 0)
    about = "" if rest == 0 else "about "
    return about + describe_duration(timedelta(minutes=rounded))


def asks_what_is_left(words: Sequence[str]) -> bool:
    """'how long is left', 'how much longer', 'time remaining', 'how long until it goes off'."""
    present = set(words)
    return bool(present & LEFT_WORDS) or {"how", "long"} <= present or {"how", "much", "time"} <= present
