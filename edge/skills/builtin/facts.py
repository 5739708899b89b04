"""Facts the user asked to be remembered ("remember my home city is Shanghai"), per user.

They survive restarts (SQLite, edge/skills/memory.py) and fill other skills' slots: a slot
declared with `memory: home city` takes the remembered value when the user leaves it out.
"""

from __future__ import annotations

from typing import ClassVar

from edge.skills.base import SkillReply, SkillRequest
from edge.skills.declared import DeclaredSkill
from edge.skills.memory import fact_key
from edge.skills.slots import title


class FactsSkill(DeclaredSkill):
    spec_file: ClassVar[str] = "specs/facts.yaml"

    def accepts(self, intent: str, values: dict) -> bool:
        """"what's my alarm" is not a question about a remembered fact: recall and forget claim a
        sentence only for a key someone has asked to be remembered."""
        if intent == "memory_remember" or "key" not in values:
            return True
        return self.memory.knows(fact_key(str(values["key"].value)))

    def on_memory_remember(self, request: SkillRequest) -> SkillReply:
        key, value = fact_key(str(request.values["key"].value)), str(request.values["value"].value)
        self.memory.remember(request.user, key, value, self.now(request))
        return SkillReply(f"Okay, I'll remember that your {key} is {title(value)}.")

    def on_memory_recall(self, request: SkillRequest) -> SkillReply:
        key = fact_key(str(request.values["key"].value))
        value = self.memory.fact(request.user, key)
        if value is None:
            return SkillReply(f"I don't know your {key} yet. You can say: remember my {key} is …")
        return SkillReply(f"Your {key} is {title(value)}.")

    def on_memory_forget(self, request: SkillRequest) -> SkillReply:
        key = fact_key(str(request.values["key"].value))
        if self.memory.forget(request.user, key):
            return SkillReply(f"Okay, I've forgotten your {key}.")
        return SkillReply(f"I didn't know your {key}.")
