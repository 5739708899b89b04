"""Which screen gets a card: by name or room from a hint, else the last used, else the nearest.

Pure functions over `Screen`s. "show it on the kitchen tv" names a screen; "in the living room"
names a room; no hint means the screen used last (if it is still there), then screens in the
speaker's own room (`cast.room`), then the rest. The result is an ordered list of candidates:
the first is the choice, the others are the fallbacks if delivery to it fails.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from edge.cast.screens import EDGECAST_KIND, Screen

FILLER_WORDS = frozenset({
    "show", "it", "put", "cast", "send", "display", "on", "in", "to", "at", "the", "my", "a", "an", "please", "screen",
})
NAMED, NAME_WORDS, ROOM, PARTIAL = 4, 3, 2, 1  # hint_score values
DEVICE_WORDS = frozenset({"tv", "television", "display", "tablet", "monitor", "projector", "chromecast", "laptop", "phone"})


@dataclass(frozen=True)
class Choice:
    candidates: list[Screen]  # in the order to try them
    matched_hint: bool  # False when a hint was given but no screen fits it

    @property
    def first(self) -> Screen | None:
        return self.candidates[0] if self.candidates else None


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def hint_score(screen: Screen, hint: str) -> int:
    """How well `hint` names this screen: NAMED (its whole name), NAME_WORDS (only words of its
    name, e.g. "kitchen tablet" for "Kitchen tablet 2"), ROOM, PARTIAL (a distinctive word), or 0."""
    wanted = [word for word in _words(hint) if word not in FILLER_WORDS]
    if not wanted:
        return 0
    name = [word for word in _words(screen.name) if word not in FILLER_WORDS]
    room = _words(screen.room)
    if name and (wanted == name or " ".join(name) in " ".join(wanted)):
        return NAMED
    if name and set(wanted) <= set(name):
        return NAME_WORDS
    if room and " ".join(room) in " ".join(wanted):
        return ROOM
    significant = set(wanted) - DEVICE_WORDS  # "garage tv" must not match "kitchen tv" on "tv"
    if (significant or set(wanted)) & set(name):
        return PARTIAL
    return 0


def choose_screens(screens: list[Screen], hint: str | None = None, own_room: str = "", last_used: str | None = None) -> Choice:
    """Order every screen from best to worst for this card (see the module docstring)."""
    scores = {screen.key: hint_score(screen, hint) for screen in screens} if hint else {}
    matched = any(scores.values())
    room = own_room.strip().lower()

    def rank(screen: Screen) -> tuple:
        return (
            -scores.get(screen.key, 0),
            screen.key != last_used,
            not room or screen.room.strip().lower() != room,
            screen.kind != EDGECAST_KIND,  # a companion answers faster than a Chromecast starting DashCast
            screen.name.lower(),
            screen.key,
        )

    ordered = sorted(screens, key=rank)
    return Choice(candidates=ordered, matched_hint=matched or not hint)
