"""`edge chat`: a typed conversation through the one `Turn`, with no microphone and no voice.

    with TextConversation.load(settings) as chat:
        trace = chat.turn("book a hotel near beijing west station")   # the turn trace, as a dict
        trace["reply"], trace["dialogue"]["expects_follow_up"]

Each line is a turn of the chat's session, routed exactly as `edge ask` routes it (a request the
intent model is unsure of goes to the cloud tier). Alerts (timers, alarms, reminders) that come
due are passed to `on_alert` from the scheduler's thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from edge.core.settings import Settings
from edge.runtime.alerts import Alert, AlertScheduler
from edge.runtime.turn import Turn
from edge.skills.phrasing import Clock

logger = logging.getLogger(__name__)

CHAT_SESSION = "chat"


class TextConversation:
    def __init__(self, turn: Turn, session: str = CHAT_SESSION, on_alert: Callable[[Alert], None] | None = None,
                 area: str = "") -> None:
        self._turn = turn
        self.session = session
        self.area = area  # the room the requests come from ("" unknown), as a satellite's area
        self.alerts: AlertScheduler = turn.alert_scheduler(on_alert or (lambda alert: None))

    @classmethod
    def load(cls, settings: Settings, clock: Clock | None = None, on_alert: Callable[[Alert], None] | None = None,
             session: str = CHAT_SESSION, area: str = "") -> TextConversation:
        return cls(Turn.load(settings, with_asr=False, with_tts=False, clock=clock), session, on_alert, area)

    @property
    def skill_problems(self) -> list[str]:
        return self._turn.skill_problems

    def now(self) -> datetime:
        """The skills' clock (alerts are due by it)."""
        return self._turn.skill_clock()

    def turn(self, text: str) -> dict[str, Any]:
        """One typed request of this chat's session; its trace (never raises for a failing stage)."""
        return self._turn.run_text(text, session=self.session, area=self.area).trace.to_dict()

    def close(self) -> None:
        self.alerts.stop()
        self._turn.close()

    def __enter__(self) -> TextConversation:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
