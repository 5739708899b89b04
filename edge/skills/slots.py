"""Slot types: read a slot's value from normalised words, and say it back.

The intent model cannot classify a bare answer such as "about two hundred yuan" or "friday",
so when the dialogue is waiting for a slot it reads the answer with that slot's parser first.
Parsers are pure and return None for "not a value of this type" (a normal answer, not an error).

    parse_slot("money", ["about", "two", "hundred", "yuan"], SlotContext(now)) -> SlotValue(value=Money(200, "CNY"))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from edge.core.text.numbers import format_number_for_speech, parse_number_words
from edge.skills.phrasing import describe_day, describe_duration, describe_time
from edge.skills.quantities import UNITS
from edge.skills.timeparse import ClockTime, after, find_clock_time, find_day, next_occurrence, parse_duration

# Words that may come before an answer without changing it: "about 200", "on friday", "make it london".
FILLERS = frozenset(
    "a an the about around roughly approximately maybe say um uh er well it's its it is make it "
    "on for in at to by under below max maximum most up less than more per please "
    "i'd i would like want need lets let's how what and".split()
)
CURRENCIES: dict[str, str] = {
    "yuan": "CNY", "rmb": "CNY", "renminbi": "CNY", "kuai": "CNY", "dollar": "USD", "dollars": "USD",
    "bucks": "USD", "usd": "USD", "euro": "EUR", "euros": "EUR", "eur": "EUR", "pound": "GBP",
    "pounds": "GBP", "quid": "GBP", "gbp": "GBP", "yen": "JPY", "jpy": "JPY",
}
CURRENCY_WORDS = {"CNY": "yuan", "USD": "dollars", "EUR": "euros", "GBP": "pounds", "JPY": "yen"}
# The time meant by a day without a clock time ("remind me on sunday", "tomorrow evening").
DAY_PARTS = {"morning": ClockTime(9, 0, "am"), "afternoon": ClockTime(3, 0, "pm"), "evening": ClockTime(6, 0, "pm"),
             "tonight": ClockTime(8, 0, "pm"), "night": ClockTime(8, 0, "pm")}
_TRAILING = {"a", "per", "night", "each", "please", "tops", "max", "or", "so", "less", "the", "room", "percent"}
_DAY_WORDS = frozenset(
    "today tonight tomorrow day after next this coming on for the night morning afternoon evening by until "
    "monday tuesday wednesday thursday friday saturday sunday mondays tuesdays wednesdays thursdays fridays "
    "saturdays sundays".split()
)
# Nouns after a number that make it a count of something else than the slot wants ("for two nights").
COUNTED = frozenset("night nights people persons person guest guests adult adults kid kids child children room rooms "
                    "day days week weeks time times of".split())
_TIME_WORDS = frozenset("at am pm o'clock oclock noon midnight midday half past quarter to in a an and "
                        "second seconds minute minutes hour hours sec secs min mins hr hrs from now".split())


@dataclass(frozen=True)
class Money:
    amount: float
    currency: str = ""  # ISO 4217 code; empty: not said

    def spoken(self) -> str:
        word = CURRENCY_WORDS.get(self.currency, self.currency.lower())
        return f"{format_number_for_speech(self.amount)} {word}".strip()


@dataclass(frozen=True)
class SlotValue:
    text: str  # the words it was read from
    value: Any  # typed: str, int/float, Money, date, datetime, timedelta
    spoken: str  # how the speaker says it back


@dataclass(frozen=True)
class SlotContext:
    """What a parser may need besides the words."""

    now: datetime
    values: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # canonical -> synonyms
    open: bool = False  # accept words that are not a listed value
    currency: str = ""  # money: the currency meant when none is said ("yuan" or "CNY")
    strict: bool = False  # every word must belong to the value (sentence templates); else find it among others
    units: tuple[str, ...] = ()  # count: the nouns counted ("night", "nights")


def strip_fillers(words: Sequence[str]) -> list[str]:
    """Drop filler words at the start: ['about', 'two', 'hundred'] -> ['two', 'hundred']."""
    words = list(words)
    while words and words[0] in FILLERS:
        words.pop(0)
    return words


def parse_text(words: Sequence[str], context: SlotContext) -> SlotValue | None:
    text = " ".join(words).strip()
    return SlotValue(text, text, text) if text else None


def _all_known(words: Sequence[str], vocabulary: frozenset[str]) -> bool:
    """Every word is in the vocabulary, a filler or a number word (for strict parsing)."""
    return all(word in vocabulary or word in FILLERS or parse_number_words([word]) is not None for word in words)


def _anywhere(parser: Parser, words: Sequence[str], context: SlotContext) -> SlotValue | None:
    """Lenient reading: the first value said, with other words before or after it ('i think two
    hundred yuan', 'about 200 u one' as Whisper may hear 'about 200 yuan')."""
    strict = SlotContext(context.now, context.values, context.open, context.currency, strict=True, units=context.units)
    for start in range(len(words)):
        for end in range(len(words), start, -1):  # the longest reading from the first place one starts
            if end < len(words) and words[end] in COUNTED and parser is not parse_count:
                continue  # "two" of "two nights" or "three people" is a count, not an amount of money
            found = parser(words[start:end], strict)
            if found is not None:
                return found
    return None


def parse_number(words: Sequence[str], context: SlotContext) -> SlotValue | None:
    if not context.strict:
        return _anywhere(parse_number, words, context)
    words = strip_fillers(words)
    found = parse_number_words(words)
    if found is None or any(word not in _TRAILING for word in words[found[1]:]):
        return None
    return SlotValue(" ".join(words), found[0], format_number_for_speech(found[0]))


def parse_money(words: Sequence[str], context: SlotContext) -> SlotValue | None:
    """'about two hundred yuan', '150 dollars a night', 'under 300', 'yuan 200'."""
    if not context.strict:
        return _anywhere(parse_money, words, context)
    if words[:1] in (["a"], ["an"]) and words[1:2] in (["hundred"], ["thousand"]):
        words = ["one", *words[1:]]  # "a hundred pounds": the filler "a" is the number here
    words = strip_fillers(words)
    currency = ""
    if words and words[0] in CURRENCIES:
        currency, words = CURRENCIES[words[0]], words[1:]
    found = parse_number_words(words)
    if found is None:
        return None
    amount, used = found
    rest = words[used:]
    if rest and rest[0] in CURRENCIES:
        currency, rest = CURRENCIES[rest[0]], rest[1:]
    if any(word not in _TRAILING for word in rest) or amount <= 0:
        return None
    default = CURRENCIES.get(context.currency.lower(), context.currency.upper())
    money = Money(float(amount), currency or default)
    return SlotValue(" ".join(words), money, money.spoken())


def parse_count(words: Sequence[str], context: SlotContext) -> SlotValue | None:
    """'two nights', 'for 3 people', 'a night', 'the two of us' (units: [of us]) -> an int."""
    if not context.strict:
        return _anywhere(parse_count, words, context)
    words = list(words)
    while words and words[0] in FILLERS and words[0] not in ("a", "an"):
        words.pop(0)
    if words[:1] in (["a"], ["an"], ["just"], ["only"]):
        words = ["one", *words[1:]]
    found = parse_number_words(words)
    if found is None or not isinstance(found[0], int) or found[0] <= 0:
        return None
    rest = " ".join(words[found[1]:])
    unit = next((unit for unit in sorted(context.units, key=len, reverse=True) if rest == unit), None)
    if unit is None:
        return None
    return SlotValue(" ".join(words), found[0], f"{found[0]} {unit}")


def parse_date(words: Sequence[str], context: SlotContext) -> SlotValue | None:
    """'friday', 'tomorrow', 'next monday', 'the day after tomorrow'."""
    if context.strict and not _all_known(words, _DAY_WORDS):
        return None
    found = find_day(list(words), context.now.date())
    if found is None:
        return None
    return SlotValue(" ".join(words), found.day, describe_date(found.day, context.now.date()))


def parse_time(words: Sequence[str], context: SlotContext) -> SlotValue | None:
    if context.strict and not _all_known(words, _TIME_WORDS | _DAY_WORDS):
        return None
    found = find_clock_time(strip_fillers(words), lenient=True)
    return None if found is None else SlotValue(" ".join(words), found, found.spoken())


def parse_duration_slot(words: Sequence[str], context: SlotContext) -> SlotValue | None:
    if not context.strict:
        return _anywhere(parse_duration_slot, words, context)
    found = None
    for candidate in (list(words), strip_fillers(words)):  # "an hour" keeps its "an"; "for ten minutes" drops "for"
        found = parse_duration(candidate, 0) if candidate else None
        if found is not None and found[1] == len(candidate):
            words = candidate
            break
        found = None
    if found is None:
        return None
    return SlotValue(" ".join(words), found[0], describe_duration(found[0]))


def parse_datetime(words: Sequence[str], context: SlotContext) -> SlotValue | None:
    """A moment: 'in ten minutes', 'at five pm', 'tomorrow at nine', 'friday morning at eight'."""
    if context.strict and not _all_known(words, _TIME_WORDS | _DAY_WORDS):
        return None
    words, now = list(words), context.now
    for index, word in enumerate(words):
        if word == "in":
            found = parse_duration(words, index + 1)
            if found is not None:
                when = after(now, found[0])
                return SlotValue(" ".join(words), when, describe_time(when, now))
    clock = find_clock_time(words, lenient=len(strip_fillers(words)) <= 3)
    day = find_day(words, now.date())
    if clock is None and day is not None:  # "this sunday", "tomorrow evening": a usual time of that part of the day
        clock = next((DAY_PARTS[word] for word in words if word in DAY_PARTS), DAY_PARTS["morning"])
    if clock is None:
        return None
    when = next_occurrence(clock, now, day)
    return SlotValue(" ".join(words), when, describe_time(when, now))


def parse_choice(words: Sequence[str], context: SlotContext) -> SlotValue | None:
    """A listed value (or a synonym of one), longest first: strictly the whole answer, else said
    anywhere in it; with `open`, otherwise the words themselves (at most six, fillers dropped)."""
    kept = strip_fillers(words)
    while kept and kept[-1] in ("please", "thanks"):
        kept.pop()
    whole, text = " ".join(words), f" {' '.join(kept if context.strict else words)} "
    names = [(synonym, canonical) for canonical, synonyms in context.values.items() for synonym in (canonical, *synonyms)]
    by_length = sorted(names, key=lambda item: -len(item[0]))
    for name, canonical in by_length:
        if (name in (whole, text.strip())) if context.strict else (f" {name} " in f" {whole} "):
            return SlotValue(name, canonical, canonical)
    if context.strict and context.open and len(kept) <= 6:  # "beijing west asian" (misheard): a known name inside
        for name, canonical in by_length:
            if f" {name} " in f" {' '.join(kept)} ":
                return SlotValue(name, canonical, canonical)
    if context.open and 0 < len(kept) <= 6:
        phrase = " ".join(kept)
        return SlotValue(phrase, phrase, phrase)
    return None


def parse_place(words: Sequence[str], context: SlotContext) -> SlotValue | None:
    """A choice whose values are names: said back capitalised ('Beijing West Station')."""
    found = parse_choice(words, context)
    return None if found is None else SlotValue(found.text, found.value, title(str(found.value)))


def title(text: str) -> str:
    """'king's cross' -> "King's Cross" (str.title would say "King'S")."""
    return " ".join(word[:1].upper() + word[1:] for word in text.split())


def describe_date(day: date, today: date) -> str:
    return describe_day(day, today)


def parse_unit_slot(words: Sequence[str], context: SlotContext) -> SlotValue | None:
    return parse_unit(words, context)


def parse_quantity_slot(words: Sequence[str], context: SlotContext) -> SlotValue | None:
    if not context.strict:
        return _anywhere(parse_quantity_slot, words, context)
    return parse_quantity(words, context)


def parse_unit(words: Sequence[str], context) -> object:
    """The whole of `words` (fillers aside) as a unit name: ['kilometers'] -> SlotValue(Unit)."""
    words = strip_fillers(words)
    unit = UNITS.get(" ".join(words))
    return None if unit is None else SlotValue(" ".join(words), unit, unit.name)


def parse_quantity(words: Sequence[str], context) -> object:
    """'ten miles', 'a kilogram', 'minus 40 degrees celsius' -> SlotValue((amount, Unit))."""
    words = strip_fillers(words) if words[:1] != ["a"] else list(words)
    sign = -1 if words[:1] in (["minus"], ["negative"]) else 1
    words = words[1:] if sign < 0 else words
    found = parse_number_words(words)
    if found is None and words[:1] in (["a"], ["an"]):
        found = (1, 1)
    if found is None:
        return None
    amount, used = found
    unit = UNITS.get(" ".join(words[used:]))
    if unit is None:
        return None
    value = sign * amount
    return SlotValue(" ".join(words), (value, unit), f"{format_number_for_speech(value)} {unit.name}")


Parser = Callable[[Sequence[str], SlotContext], SlotValue | None]
SLOT_TYPES: dict[str, Parser] = {
    "text": parse_text,
    "number": parse_number,
    "money": parse_money,
    "date": parse_date,
    "time": parse_time,
    "duration": parse_duration_slot,
    "datetime": parse_datetime,
    "place": parse_place,
    "choice": parse_choice,
    "unit": parse_unit_slot,  # a unit of measure (edge/skills/builtin/units.py)
    "quantity": parse_quantity_slot,  # a number and a unit: "ten miles"
    "count": parse_count,  # a whole number of the slot's `units`: "for two nights", "for 3 people"
}
# Fillers for generated training sentences when a slot declares no values or samples.
DEFAULT_SAMPLES: dict[str, tuple[str, ...]] = {
    "number": ("five", "twenty", "one hundred"),
    "money": ("two hundred yuan", "one hundred and fifty dollars", "eighty pounds", "three hundred"),
    "date": ("tomorrow", "friday", "next monday", "today"),
    "time": ("seven am", "six thirty pm", "noon"),
    "duration": ("ten minutes", "an hour", "thirty seconds"),
    "datetime": ("at five pm", "in ten minutes", "tomorrow at nine am"),
}


def parse_slot(kind: str, words: Sequence[str], context: SlotContext) -> SlotValue | None:
    """Read a value of slot type `kind`; KeyError for an unknown type (specs are checked on load)."""
    return SLOT_TYPES[kind](list(words), context)
