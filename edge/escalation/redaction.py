"""Take phone numbers, e-mail addresses and names out of text before it leaves the device.

    redacted = redact("Text Anna Schmidt at anna@example.org or +49 170 1234567")
    redacted.text    # 'Text [name] at [email] or [phone]'
    redacted.counts  # {'email': 1, 'phone': 1, 'name': 1}

Limits, on purpose simple and predictable:
- e-mail: anything shaped user@host.tld;
- phone: a run of digits with spaces, dots, dashes or brackets holding 7 to 15 digits
  (so years, times and sums stay; a long account number is taken as a phone number too);
- names: a capitalised word that is not the first word and not a common capitalised word
  (days, months, "I"...), when it stands next to another such word ("Anna Schmidt") or after a
  person cue ("call", "text", "tell", "my wife", "Dr"...). A single name without a cue
  ("is Anna coming") is missed, lower-case text (some ASR output) is never touched, and
  two-word places ("New York") are taken for names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"(?<![\w+])\+?\(?\d[\d\s().-]{5,}\d(?!\w)")
_WORD = re.compile(r"[A-Za-z][\w'-]*")
_NOT_NAMES = frozenset(
    "i i'm i'll i've i'd monday tuesday wednesday thursday friday saturday sunday january february march april "
    "may june july august september october november december english christmas easter ok okay tv".split()
)
_PERSON_CUES = frozenset(
    "call text message email e-mail tell ask remind meet phone ring invite with from dear mr mrs ms dr "
    "wife husband mom mum dad mother father son daughter brother sister friend boss colleague".split()
)


@dataclass(frozen=True)
class Redacted:
    text: str
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def redact(text: str) -> Redacted:
    counts: dict[str, int] = {}

    def replace(kind: str):
        def substitute(match: re.Match[str]) -> str:
            if kind == "phone" and not 7 <= sum(char.isdigit() for char in match.group()) <= 15:
                return match.group()
            counts[kind] = counts.get(kind, 0) + 1
            return f"[{kind}]"

        return substitute

    text = _EMAIL.sub(replace("email"), text)
    text = _PHONE.sub(replace("phone"), text)
    text, names = _redact_names(text)
    if names:
        counts["name"] = names
    return Redacted(text, counts)


def _is_candidate(word: str, index: int, words: list[re.Match[str]], text: str) -> bool:
    if not word[0].isupper() or word.lower() in _NOT_NAMES:
        return False
    if index == 0:
        return False
    before = text[words[index - 1].end() : words[index].start()]
    return not re.search(r"[.!?]", before)  # sentence-initial words are capitalised anyway


def _redact_names(text: str) -> tuple[str, int]:
    words = list(_WORD.finditer(text))
    candidate = [_is_candidate(match.group(), index, words, text) for index, match in enumerate(words)]
    chosen = set()
    for index, is_candidate in enumerate(candidate):
        if not is_candidate:
            continue
        neighbour = (index > 0 and candidate[index - 1]) or (index + 1 < len(words) and candidate[index + 1])
        cue = index > 0 and words[index - 1].group().lower().rstrip(".") in _PERSON_CUES
        if neighbour or cue or (index in chosen):
            chosen.add(index)
    if not chosen:
        return text, 0
    spans: list[list[int]] = []  # [start, end] of runs of chosen words separated only by spaces
    for index in sorted(chosen):
        match = words[index]
        if spans and index - 1 in chosen and text[spans[-1][1] : match.start()].strip() == "":
            spans[-1][1] = match.end()
        else:
            spans.append([match.start(), match.end()])
    for start, end in reversed(spans):
        text = text[:start] + "[name]" + text[end:]
    return text, len(spans)
