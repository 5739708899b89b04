"""Reminders: "remind me to call mom at five pm". Stored per user; spoken when due by the
`AlertScheduler` (edge/runtime/alerts.py), which also announces timers and alarms.

Each reply names the reminders it set or read out (`SkillReply.mentions`): "no, make it six"
moves the one just set (`reminder_set` with `SkillRequest.target`), "cancel it" removes it.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from edge.core.text.normalize import normalize_utterance
from edge.skills.base import Mention, SkillReply, SkillRequest
from edge.skills.declared import DeclaredSkill
from edge.skills.memory import Reminder
from edge.skills.phrasing import describe_time, join_words
from edge.skills.timeparse import find_day

_ACTIONS = {"cancel": "reminder_remove", "change": "reminder_set", "query": "reminder_query"}
_ALL = ("all", "every", "reminders")


def reminder_mention(reminder: Reminder, now: datetime) -> Mention:
    return Mention("reminder", ref=str(reminder.id), name=f"reminder to {reminder.text}", actions=dict(_ACTIONS),
                   slots={"task": reminder.text, "when": normalize_utterance(describe_time(reminder.fire_at, now))})


class ReminderSkill(DeclaredSkill):
    spec_file: ClassVar[str] = "specs/reminders.yaml"

    def on_reminder_set(self, request: SkillRequest) -> SkillReply:
        now = self.now(request)
        task, when = request.values["task"], request.values["when"]
        if when.value <= now:
            return SkillReply(f"{describe_time(when.value, now)} has passed. When should I remind you?", ask_slot="when")
        old = self._target(request, now)
        fire_at = when.value
        if old is not None:
            fire_at = _same_day(old.fire_at, fire_at, when.text, now)  # "change that to 11": still tomorrow
            self.memory.remove_reminder(old.id)
        reminder = self.memory.add_reminder(request.user, str(task.value), fire_at, now, request.session)
        said = "Okay, now I'll remind you" if old is not None else "Okay, I'll remind you"
        return SkillReply(f"{said} to {task.value} at {describe_time(fire_at, now)}.",
                          mentions=(reminder_mention(reminder, now),))

    def on_reminder_query(self, request: SkillRequest) -> SkillReply:
        now = self.now(request)
        upcoming = self._upcoming(request, now)
        if not upcoming:
            return SkillReply("You have no reminders.")
        said = [f"{item.text} at {describe_time(item.fire_at, now)}" for item in upcoming]
        return SkillReply(f"You have {len(said)} reminder{'s' if len(said) != 1 else ''}: {join_words(said)}.",
                          card={"title": "Reminders", "items": said},
                          mentions=tuple(reminder_mention(item, now) for item in upcoming))

    def on_reminder_remove(self, request: SkillRequest) -> SkillReply:
        now = self.now(request)
        upcoming = self._upcoming(request, now)
        target = self._target(request, now)
        task = request.values.get("task")
        if target is not None:
            chosen = [target]
        elif task is not None:
            chosen = [item for item in upcoming if set(str(task.value).split()) <= set(item.text.split())]
        else:
            chosen = upcoming if len(upcoming) == 1 or any(word in _ALL for word in request.text.split()) else []
        if not upcoming or (task is not None and not chosen):
            return SkillReply("You have no reminder like that." if upcoming else "You have no reminders.")
        if not chosen:
            said = join_words([f"{item.text} at {describe_time(item.fire_at, now)}" for item in upcoming])
            return SkillReply(f"Which reminder should I cancel? You have {len(upcoming)}: {said}.",
                              mentions=tuple(reminder_mention(item, now) for item in upcoming))
        for item in chosen:
            self.memory.remove_reminder(item.id)
        if len(chosen) == 1:
            return SkillReply(f"Cancelled your reminder to {chosen[0].text}.")
        return SkillReply(f"Cancelled {len(chosen)} reminders.")

    def _upcoming(self, request: SkillRequest, now: datetime) -> list[Reminder]:
        return [item for item in self.memory.reminders(request.user) if item.fire_at > now]

    def _target(self, request: SkillRequest, now: datetime) -> Reminder | None:
        if not request.target:
            return None
        return next((item for item in self._upcoming(request, now) if str(item.id) == request.target), None)


def _same_day(old: datetime, new: datetime, words: str, now: datetime) -> datetime:
    """A new time of day said without a day keeps the old reminder's day, when that is still ahead."""
    if find_day(words.split(), now.date()) is not None or " in " in f" {words} ":
        return new
    moved = old.astimezone(now.tzinfo).replace(hour=new.hour, minute=new.minute)
    return moved if moved > now else new
