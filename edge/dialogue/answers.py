"""What a short follow-up utterance means: yes, no, cancel, a correction, or "and tomorrow?".

Pure functions over normalised text (edge.core.text.normalize.normalize_utterance); "not one of these" is a
normal None/False return. The intent model cannot classify such fragments reliably (HWU64 has no
"answer" intent), so the dialogue layer reads them here first.
"""

from __future__ import annotations

import re

from edge.core.events import IntentResult

_YES = frozenset({
    "yes", "yeah", "yep", "yup", "sure", "ok", "okay", "correct", "right", "absolutely", "definitely", "affirmative",
    "please", "confirm", "confirmed", "go", "do", "book", "fine", "alright", "perfect", "great",
})
_YES_PHRASES = ("go ahead", "do it", "book it", "sounds good", "of course", "that's right", "that is right",
                "please do", "yes please", "why not", "that works", "let's do it", "lets do it")
_NO = frozenset({"no", "nope", "nah", "negative", "don't", "dont", "not"})
_NO_PHRASES = ("no thanks", "no thank you", "not now", "don't book", "do not", "i don't", "better not", "not really")
_CANCEL = frozenset({
    "cancel", "cancel that", "cancel it", "cancel this", "never mind", "nevermind", "forget it", "forget about it",
    "stop", "abort", "quit", "nothing", "stop it", "no cancel", "no stop", "no never mind", "forget that",
    "cancel the booking", "cancel everything", "leave it", "drop it",
})
_CORRECTION = re.compile(
    r"^(?:(?:no|nope|actually|sorry|wait|oh|oops|hmm|not|well)\b[\s,]*)+"
    r"(?:(?:i meant|i mean|i said|make it|make that|change it to|change that to|let's say|lets say|rather|instead|"
    r"it's|it is|it should be|should be)\b\s*)?(?P<rest>.*)$"
    r"|^(?:make it|make that|change it to|change that to|change the \w+ to|make the \w+)\s+(?P<rest2>.+)$"
)
_CARRY = re.compile(r"^(?:and|what about|how about|and what about|and how about|what if|and for|and in|same for)\b\s*(?P<rest>.+)$")


# A whole utterance that is only a yes or a no (with nothing pending, "book a hotel" must not read as "book").
_BARE_YES = frozenset({"yes", "yeah", "yep", "yup", "sure", "ok", "okay", "yes please", "correct", "right", "alright",
                       "all right", "sure thing", "yes it is", "yes do it", "go ahead", "do it", "sounds good"})
_BARE_NO = frozenset({"no", "nope", "nah", "no thanks", "no thank you", "not really", "no no", "no way", "don't",
                      "dont", "no it isn't", "no don't"})


def bare_yes_or_no(text: str) -> bool | None:
    """True for an utterance that is only a yes, False for only a no, None otherwise."""
    text = text.strip()
    return True if text in _BARE_YES else False if text in _BARE_NO else None


def is_cancel(text: str) -> bool:
    return text.strip() in _CANCEL


def yes_or_no(text: str, intent: IntentResult | None = None) -> bool | None:
    """True for yes, False for no, None when it is neither (or both, like 'no, yes')."""
    words = text.split()
    if not words:
        return None
    yes = text in _YES_PHRASES or any(text.startswith(phrase + " ") for phrase in _YES_PHRASES) or words[0] in _YES
    no = text in _NO_PHRASES or any(text.startswith(phrase) for phrase in _NO_PHRASES) or words[0] in _NO
    if yes != no:
        if no and len(words) > 3:
            return None  # "no, make it friday" is a correction, not a no
        return yes
    if intent is not None and not yes and not no and intent.confidence >= 0.6:
        if intent.intent in ("general_affirm", "general_confirm"):
            return True
        if intent.intent == "general_negate":
            return False
    return None


def correction(text: str) -> str | None:
    """'no, make it friday' -> 'friday'; 'actually two hundred' -> 'two hundred'; None otherwise."""
    found = _CORRECTION.match(text.strip())
    if found is None:
        return None
    rest = (found.group("rest") or found.group("rest2") or "").strip()
    return rest or None


def named_slot(text: str, slot_names: list[str]) -> str | None:
    """'change the date to friday' -> 'date' (a slot the user named)."""
    words = set(text.split())
    return next((name for name in slot_names if set(name.replace("_", " ").split()) <= words), None)


def carry_over(text: str) -> str | None:
    """'and tomorrow' -> 'tomorrow'; 'what about in london' -> 'in london'; None otherwise."""
    found = _CARRY.match(text.strip())
    return found.group("rest").strip() if found else None
