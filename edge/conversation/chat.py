"""A text conversation through the intent model, the dialogue layer and the skills (`edge chat`).

    with TextConversation.load(settings) as chat:
        trace = chat.turn("book a hotel near beijing west station")   # the turn trace, as a dict
        trace["reply"], trace["dialogue"]["expects_follow_up"]

Alerts (timers, alarms, reminders) that come due are passed to `on_alert` from a background
thread. Without the pipeline this path has no cloud tier: a turn the dialogue does not claim is
answered by the skill of the model's intent (or the fallback), as with `router.enabled = false`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from edge.conversation.manager import DialogueManager
from edge.events import IntentResult
from edge.nlu.runtime import IntentModel
from edge.settings import Settings
from edge.skills.alerts import Alert, AlertScheduler
from edge.skills.clock import Clock
from edge.skills.loader import LoadedSkills, load_skills

logger = logging.getLogger(__name__)


class TextConversation:
    def __init__(self, settings: Settings, nlu: IntentModel, skills: LoadedSkills, session: str = "chat",
                 on_alert: Callable[[Alert], None] | None = None) -> None:
        self.settings = settings
        self.nlu = nlu
        self.skills = skills
        self.session = session
        self.dialogue = DialogueManager(settings.dialogue, skills.registry, skills.context.memory, skills.context.clock,
                                        oos_label=nlu.manifest.oos_label)
        self.alerts = AlertScheduler(skills.context, on_alert or (lambda alert: None))

    @classmethod
    def load(cls, settings: Settings, clock: Clock | None = None, on_alert: Callable[[Alert], None] | None = None,
             session: str = "chat") -> TextConversation:
        return cls(settings, IntentModel.for_device(settings.nlu, settings.device), load_skills(settings, clock), session, on_alert)

    def turn(self, text: str) -> dict[str, Any]:
        """One request; returns its trace (never raises for a failing skill)."""
        start = time.perf_counter()
        intent: IntentResult = self.nlu.predict(text)
        nlu_done = time.perf_counter()
        interpretation = self.dialogue.interpret(intent, text, self.session)
        reply = self.dialogue.respond(interpretation)
        done = time.perf_counter()
        return {
            "transcript": text, "intent": intent.intent, "confidence": intent.confidence,
            "out_of_scope": intent.out_of_scope, "slots": intent.slots, "route": "local", "skill": reply.skill,
            "reply": reply.text, "card": None if reply.card is None else {"title": reply.card.get("title", "")},
            "dialogue": reply.trace(),
            "stages_ms": {"nlu": round((nlu_done - start) * 1000, 2), "dialogue": round((done - nlu_done) * 1000, 2)},
        }

    def close(self) -> None:
        self.alerts.stop()
        self.skills.close()

    def __enter__(self) -> TextConversation:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
