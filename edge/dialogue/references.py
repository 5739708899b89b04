"""What an utterance refers back to, and what it wants done: pure functions over normalised text.

    find_reference("how long is left on the egg timer", {"timer"})  # Reference(kind='timer', name='egg')
    find_reference("cancel it", set())                               # Reference(pronoun=True)
    find_reference("no not that one the other one", set())          # Reference(other=True, negated=True)
    verb_of("make it ten minutes later")                             # 'change'
    additive("and butter too")                                       # 'butter'

"Not a reference" is a normal None return. Which recent thing a reference means is decided by
edge/dialogue/resolve.py against the session's recent mentions (edge/dialogue/recent.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# "it", "that", "this one", "them": a pronoun for the most recent fitting thing.
_PRONOUNS = ("that one", "this one", "the one", "it", "that", "this", "them", "those", "these", "they")
_ORDINALS = {"first": 0, "second": 1, "third": 2, "last": -1, "latest": -1, "newest": -1, "oldest": 0}
_EVERY = ("both", "both of them", "all of them", "them all", "all three", "all of those")
_PLACE_WORDS = ("there", "that city", "that place", "same place", "the same place", "the same city")
_DETERMINERS = ("the", "my", "our", "that", "this", "your")
_INDEFINITE = ("a", "an", "another", "new", "one", "some")
# Verbs, by what the user wants done to the thing; the first class whose words appear wins.
_VERBS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("query", re.compile(r"\b(?:how (?:long|much)|left|remaining|when (?:does|will|is)|what time is|is it (?:done|set)|"
                         r"check|status)\b")),
    ("off", re.compile(r"\b(?:turn|switch|shut|power) (?:it |them |that |those |the \w+ )?(?:off|down)\b")),
    ("on", re.compile(r"\b(?:turn|switch|power) (?:it |them |that |those |the \w+ )?on\b")),
    ("cancel", re.compile(r"\b(?:cancel(?:led)?|stop(?:ped)?|delete[ds]?|remove[ds]?|kill|end|scrap|drop|dismiss|clear|get rid of|"
                          r"take (?:it|that|them) off|don't need|do not need|forget about)\b")),
    ("change", re.compile(r"\b(?:make|move|change|push|set|switch|put|reschedule|bring|shift|extend|add|snooze)\b|"
                          r"\b(?:later|earlier|instead|sooner|more)\b")),
)
_ADDITIVE = (
    re.compile(r"^(?:and|plus|also|oh and|and also|and then|then)\s+(?P<rest>.+?)(?:\s+(?:too|as well|also|please))*$"),
    re.compile(r"^(?P<rest>.+?)\s+(?:too|as well|also)(?:\s+please)?$"),
    re.compile(r"^(?:what about|how about|and what about|and how about|same for|same with|and for|what if|"
               r"and the same for)\s+(?P<rest>.+)$"),
    # "set another one for eight minutes", "and another for seven": one more of the last request
    re.compile(r"^(?:and |oh and )?(?:can you |could you |please )?(?:set |make |start |add |put |book )?(?:me )?"
               r"another(?: one)?\s+(?P<rest>.+)$"),
)
_HEARD_AND = re.compile(r"^(?:and|in|an|oh)\s+")  # "in butter too": "and" as the recogniser may hear it
_AGAIN = re.compile(r"^(?:and |oh and )?(?:please )?(?:(?:tell|give|read|set|do|make|play) (?:me |us )?)?"
                    r"(?:another(?: one)?|one more(?: time)?|again|(?:it|that|the same) again|same again)(?: please)?$")
_SOCIAL_THANKS = re.compile(r"^(?:thanks?|thank you|thank you very much|thanks a lot|cheers|great thanks|"
                            r"perfect thanks|ok thanks|okay thanks|thank you so much|much appreciated)$")


@dataclass(frozen=True)
class Reference:
    """A referring expression: which of the recent things the user means."""

    pronoun: bool = False  # "it", "that one", "them"
    kind: str = ""  # a kind said: "the timer" -> "timer" ("" none)
    name: str = ""  # words naming it: "the egg timer" -> "egg"
    ordinal: int | None = None  # "the first one" 0, "the second one" 1, "the last one" -1
    other: bool = False  # "the other one", "the other timer"
    negated: bool = False  # "not that one": the last one meant was wrong
    place: bool = False  # "there", "that city"
    every: bool = False  # "both", "all of them"

    @property
    def explicit(self) -> bool:
        """It names a kind or a name (not only "it"): safe to resolve even after an LLM's answer."""
        return bool(self.kind or self.name)


def find_reference(text: str, kinds: set[str]) -> Reference | None:
    """The reference in `text` to one of `kinds` (the kinds of the session's recent things), if any."""
    words = text.split()
    padded = f" {text} "
    negated = bool(re.search(r"\bnot (?:that|this|the) ?(?:one)?\b|\bwrong one\b", text))
    other = " other " in padded or " another one " in padded and negated
    ordinal = next((_ORDINALS[word] for word in words if word in _ORDINALS), None)
    kind, name = _kind_and_name(words, kinds)
    place = any(f" {phrase} " in padded for phrase in _PLACE_WORDS)
    pronoun = any(f" {phrase} " in padded for phrase in _PRONOUNS)
    every = any(f" {phrase} " in padded for phrase in _EVERY)
    if ordinal is not None and not kind and " one " not in padded:
        ordinal = None  # "the first" of nothing: "first" is just a word here
    if not (pronoun or kind or other or negated or place or every or ordinal is not None):
        return None
    return Reference(pronoun, kind, name, ordinal, other, negated, place, every)


def _kind_and_name(words: list[str], kinds: set[str]) -> tuple[str, str]:
    """'the egg timer' -> ('timer', 'egg'); 'my alarms' -> ('alarm', ''); ('', '') when no kind is said."""
    for index, word in enumerate(words):
        kind = word if word in kinds else word[:-1] if word.endswith("s") and word[:-1] in kinds else ""
        if not kind:
            continue
        start = index
        while start > 0 and words[start - 1] not in _DETERMINERS and words[start - 1] not in _INDEFINITE + ("on", "of"):
            start -= 1
        if start > 0 and words[start - 1] in _INDEFINITE:
            return "", ""  # "set a timer", "another alarm": a new one, not a reference
        named = [word for word in words[start:index] if word not in ("other", "one", *_ORDINALS)]
        return kind, " ".join(named)
    return "", ""


def verb_of(text: str) -> str:
    """What the user wants done: query, off, on, cancel or change; '' when no verb is said."""
    for verb, pattern in _VERBS:
        if pattern.search(text):
            return verb
    return ""


def additive(text: str) -> str | None:
    """'and butter too' -> 'butter'; 'eggs as well' -> 'eggs'; 'what about paris' -> 'paris'; None otherwise."""
    for pattern in _ADDITIVE:
        found = pattern.match(text.strip())
        rest = _HEARD_AND.sub("", found.group("rest").strip()) if found is not None else ""
        if rest:
            return rest
    return None


def without_references(text: str) -> str:
    """The words left when the referring words are dropped: 'another one for eight' -> 'for eight'."""
    words = [word for word in text.split() if word not in ("it", "that", "this", "them", "one", "another", "other",
                                                          "same", "again", "instead", "too", "also")]
    return " ".join(words)


def is_again(text: str) -> bool:
    """'another one', 'one more', 'tell me another', 'do that again': the last request once more."""
    return bool(_AGAIN.match(text.strip()))


def is_thanks(text: str) -> bool:
    return bool(_SOCIAL_THANKS.match(text.strip()))
