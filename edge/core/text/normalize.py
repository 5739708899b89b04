"""One text normalisation shared by training (`distill`) and the device (`edge.nlu`).

Whatever the intent model sees at run time must look like what it saw in training: HWU64 is
lower case, has almost no punctuation, and spells numbers as words. Whisper's output is cased,
punctuated and uses digits, so both sides pass text through `normalize_utterance`.
"""

from __future__ import annotations

import re
import unicodedata

from edge.core.text.numbers import decimal_to_words

_CLOCK_SUFFIXES = re.compile(r"\b([ap])\.\s?m\b\.?")
_CLOCK_TIME = re.compile(r"\b(\d{1,2}):(\d{2})\b")
# Whisper sometimes writes "at 6.30": after a time preposition, a dotted pair is a clock time.
_DOTTED_CLOCK_TIME = re.compile(r"\b(at|for|until|till|by|from|to) (\d{1,2})\.([0-5]\d)\b")
_THOUSANDS_SEPARATOR = re.compile(r"(?<=\d),(?=\d{3}\b)")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_ORDINAL_SUFFIX = re.compile(r"\b(\d+)(?:st|nd|rd|th)\b")
# Keep letters, digits, apostrophes inside words, spaces and a few symbols that carry meaning.
_DROPPED = re.compile(r"[^\w\s'@%+\-*/^]")
_SPACES = re.compile(r"\s+")


def _spell_clock_time(match: re.Match[str]) -> str:
    hours, minutes = match.group(1), match.group(2)
    if minutes == "00":
        return hours
    return f"{hours} {minutes}" if not minutes.startswith("0") else f"{hours} oh {minutes[1]}"


def normalize_utterance(text: str) -> str:
    """Lower-case, spell digits as words, drop punctuation: 'Wake me at 7:30 a.m.!' ->
    'wake me at seven thirty am'."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = text.replace("\u2019", "'")
    text = _CLOCK_SUFFIXES.sub(r"\1m", text)
    text = _DOTTED_CLOCK_TIME.sub(r"\1 \2:\3", text)
    text = _CLOCK_TIME.sub(_spell_clock_time, text)
    text = re.sub(r"(?<=[a-z])-(?=[a-z])", " ", text)  # twenty-one -> twenty one
    text = _THOUSANDS_SEPARATOR.sub("", text)
    text = _ORDINAL_SUFFIX.sub(r"\1", text)
    text = _NUMBER.sub(lambda match: f" {decimal_to_words(match.group(0))} ", text)
    text = text.replace("%", " percent ")
    text = _DROPPED.sub(" ", text)
    text = re.sub(r"(?<!\w)'|'(?!\w)", " ", text)  # quotes, not apostrophes
    return _SPACES.sub(" ", text).strip()
