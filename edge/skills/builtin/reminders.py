"""Reminders: "remind me to call mom at five pm". Stored per user; spoken when due by the
`AlertScheduler` (edge/runtime/alerts.py), which also announces timers and alarms."""

from __future__ import annotations

from typing import ClassVar

from edge.skills.base import SkillReply, SkillRequest
from edge.skills.declared import DeclaredSkill
from edge.skills.phrasing import describe_time, join_words


class ReminderSkill(DeclaredSkill):
    spec_file: ClassVar[str] = "specs/reminders.yaml"

    def on_reminder_set(self, request: SkillRequest) -> SkillReply:
        now = self.now(request)
        task, when = request.values["task"], request.values["when"]
        if when.value <= now:
            return SkillReply(f"{describe_time(when.value, now)} has passed. When should I remind you?", ask_slot="when")
        self.memory.add_reminder(request.user, str(task.value), when.value, now, request.session)
        return SkillReply(f"Okay, I'll remind you to {task.value} at {describe_time(when.value, now)}.")

    def on_reminder_query(self, request: SkillRequest) -> SkillReply:
        now = self.now(request)
        upcoming = [item for item in self.memory.reminders(request.user) if item.fire_at > now]
        if not upcoming:
            return SkillReply("You have no reminders.")
        said = [f"{item.text} at {describe_time(item.fire_at, now)}" for item in upcoming]
        return SkillReply(f"You have {len(said)} reminder{'s' if len(said) != 1 else ''}: {join_words(said)}.",
                          card={"title": "Reminders", "items": said})
