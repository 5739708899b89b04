"""Which screen a turn's card should go to, and where it went (for the trace)."""

from __future__ import annotations

import re
from typing import Any

_SCREEN_REQUEST = re.compile(r"\b(?:show|put|cast|display|send)\b.*?\b(?:on|to|in)\s+(?:the\s+|my\s+)?(.+?)[.!?]*$", re.I)


def screen_hint(transcript: str) -> str | None:
    """'show my shopping list on the kitchen tv' -> 'kitchen tv'; None when no screen is asked for."""
    match = _SCREEN_REQUEST.search(transcript)
    return match.group(1) if match else None


CAST_TRACE_WAIT_SECONDS = 1.0  # after the reply audio is made, wait this long to learn where the card went


def cast_outcome(ticket) -> dict[str, Any]:
    if ticket is None:
        return {"screen": None, "status": "speech-only", "reason": "casting is off (no screen caster running)"}
    return ticket.outcome(timeout=CAST_TRACE_WAIT_SECONDS)
