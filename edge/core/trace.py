"""The turn trace: one JSON object per turn, the same from every front end.

    trace = result.trace                 # a TurnTrace
    trace.reply, trace.route, trace.stages_ms["asr"]
    print(json.dumps(trace.to_dict()))   # what `edge ask --json` and `edge run --json` print

Every field is documented in docs/architecture.md (a test checks that each one is). Fields that
did not apply to a turn (no card, no escalation, no error) are None and left out of `to_dict()`;
the core fields are always there.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

# Always in `to_dict()`, even when empty: what every consumer of a trace reads.
CORE_FIELDS = ("session", "transcript", "route", "skill", "reply", "reply_audio_seconds", "timestamps_ms", "stages_ms")


@dataclass
class TurnTrace:
    session: str = "default"  # the conversation this turn belongs to: "local", "chat", a satellite's name…
    area: str = ""  # the room the request came from (a satellite's area); "" when unknown
    input: str | None = None  # the audio file or batch line the request came from
    transcript: str | None = None  # what was heard (or typed); None when the turn failed before ASR
    intent: str | None = None  # the intent model's top intent
    confidence: float | None = None  # its calibrated probability
    oos_margin: float | None = None  # calibrated logit margin of the best in-scope intent over out_of_scope
    out_of_scope: bool | None = None  # the bundle's own out-of-scope decision
    slots: dict[str, str] | None = None  # slot name -> the words the intent model tagged
    understanding: dict[str, Any] | None = None  # the bundle's domain at work: grammar decode, snapped and unsure slots
    correction: dict[str, Any] | None = None  # "no, I meant …": what was corrected and whether it was flagged
    route: str = "local"  # local | cloud | offline
    route_rule: str | None = None  # the router's rule that decided (edge/escalation/router.py)
    route_reason: str | None = None  # one sentence: why this route
    route_threshold: dict[str, Any] | None = None  # the threshold the rule compared with, and where it came from
    dialogue: dict[str, Any] | None = None  # how the dialogue layer read the turn (action, slots, question asked)
    escalation: dict[str, Any] | None = None  # tier, endpoint, failures, attempts of an escalated turn
    skill: str = ""  # the skill (or LLM tier) that answered
    reply: str = ""  # what the speaker said
    expects_follow_up: bool = False  # the reply asked a question: listen again without the wake word
    follow_up_seconds: float = 0.0  # ...for this long
    card: dict[str, Any] | None = None  # the rich answer's title and where it was cast
    reply_audio_seconds: float = 0.0  # length of the spoken reply
    reply_wav: str | None = None  # where the reply audio was written
    timestamps_ms: dict[str, float] = field(default_factory=dict)  # milestones, ms after the end of the request
    stages_ms: dict[str, float] = field(default_factory=dict)  # per-stage durations derived from the milestones
    live: dict[str, Any] | None = None  # the live loop's stream times (wake word, speech start and end…)
    warnings: list[str] = field(default_factory=list)  # things the user should know (input cut at 30 s…)
    error: dict[str, str] | None = None  # code and text of what failed; the apology was spoken

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: core fields always, the others when set."""
        result: dict[str, Any] = {}
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if item.name in CORE_FIELDS:
                result[item.name] = value
            elif item.name in ("expects_follow_up", "follow_up_seconds"):
                if self.expects_follow_up:
                    result[item.name] = value
            elif value not in (None, [], ""):
                result[item.name] = value
        return result

    def fail(self, code: str, text: str) -> None:
        """Record what went wrong (the first failure of a turn wins)."""
        if self.error is None:
            self.error = {"code": code, "text": text}


def field_names() -> list[str]:
    """Every field of the trace schema, in order (for the docs check)."""
    return [item.name for item in dataclasses.fields(TurnTrace)]
