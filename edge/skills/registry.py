"""The registry that routes a recognised intent to the skill that declared it.

    registry = SkillRegistry(skills, timeout_seconds=5.0)
    reply = registry.handle(SkillRequest(intent="qa_maths", text=..., raw_text=...))
    ...
    registry.close()

`handle` never raises: an intent without a skill gets a fallback reply, and a skill that fails
is logged and answered with a spoken apology, so one broken skill cannot stop the speaker. With
`timeout_seconds`, each call runs on its own daemon thread and a skill that hangs is answered
with an apology after that long (its stack is logged; it gets no new calls until it returns).
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import threading
import traceback
from collections.abc import Iterable
from typing import Any

from edge.core.errors import ConfigError
from edge.skills.base import Skill, SkillError, SkillReply, SkillRequest

logger = logging.getLogger(__name__)

FALLBACK_SKILL = "fallback"  # the `skill` of replies no skill gave
OUT_OF_SCOPE = "out_of_scope"
_NO_SKILL_TEXT = "Sorry, I can't do that yet."
_OUT_OF_SCOPE_TEXT = "Sorry, I don't know how to help with that."


class DuplicateIntentError(ConfigError, ValueError):
    """Two skills claim the same intent."""


class SkillTimeout(SkillError):
    """A skill did not answer within the registry's timeout."""


class SkillRegistry:
    """Maps each intent to the one skill that answers it."""

    def __init__(
        self, skills: Iterable[Skill] = (), timeout_seconds: float | None = None, resources: Iterable[Any] = (),
    ) -> None:
        self._skills: list[Skill] = []
        self._by_intent: dict[str, Skill] = {}
        self.timeout_seconds = timeout_seconds
        self._resources = list(resources)  # closed after the skills (a shared database)
        self._stuck: dict[str, threading.Thread] = {}  # skill name -> the thread of a call that hung
        self.problems: list[str] = []  # skills that could not be loaded, for `edge skills list`
        for skill in skills:
            self.register(skill)

    def register(self, skill: Skill) -> None:
        """Add a skill; raises DuplicateIntentError if another skill has one of its intents."""
        for intent in skill.intents:
            if intent in self._by_intent:
                raise DuplicateIntentError(
                    f"skills {self._by_intent[intent].name!r} and {skill.name!r} both handle "
                    f"intent {intent!r}; remove one of them"
                )
        self._skills.append(skill)
        self._by_intent.update({intent: skill for intent in skill.intents})

    @property
    def skills(self) -> tuple[Skill, ...]:
        return tuple(self._skills)

    @property
    def intents(self) -> frozenset[str]:
        return frozenset(self._by_intent)

    def skill_for(self, intent: str) -> Skill | None:
        return self._by_intent.get(intent)

    def handle(self, request: SkillRequest) -> SkillReply:
        """Answer a request. Never raises: failures become a spoken apology."""
        skill = self._by_intent.get(request.intent)
        if skill is None:
            text = _OUT_OF_SCOPE_TEXT if request.intent == OUT_OF_SCOPE else _NO_SKILL_TEXT
            return SkillReply(text=text, skill=FALLBACK_SKILL)
        try:
            reply = self._call(skill, request)
            if not isinstance(reply, SkillReply):
                raise SkillError(f"skill {skill.name!r} returned {type(reply).__name__}, not a SkillReply")
        except SkillTimeout as error:
            return SkillReply(text=f"Sorry, the {skill.name} skill is not responding.", skill=skill.name, error=str(error))
        except Exception as error:
            logger.exception("skill %s failed on intent %s (%r)", skill.name, request.intent, request.text)
            return SkillReply(text=f"Sorry, something went wrong with the {skill.name} skill.", skill=skill.name,
                              error=f"{type(error).__name__}: {error}")
        return dataclasses.replace(reply, skill=skill.name)

    def _call(self, skill: Skill, request: SkillRequest) -> SkillReply:
        if self.timeout_seconds is None:
            return skill.handle(request)
        stuck = self._stuck.get(skill.name)
        if stuck is not None and stuck.is_alive():
            raise SkillTimeout(f"skill {skill.name!r} is still stuck on an earlier request; not called")
        outcome: dict[str, Any] = {}

        def run() -> None:
            try:
                outcome["reply"] = skill.handle(request)
            except Exception as error:  # re-raised on the caller's thread
                outcome["error"] = error

        thread = threading.Thread(target=run, name=f"skill-{skill.name}", daemon=True)
        thread.start()
        thread.join(self.timeout_seconds)
        if thread.is_alive():
            self._stuck[skill.name] = thread
            frame = sys._current_frames().get(thread.ident or -1)
            stack = "".join(traceback.format_stack(frame)) if frame is not None else "(no stack)"
            logger.error("skill %s did not answer %s (%r) within %.1f s; it hangs here:\n%s",
                         skill.name, request.intent, request.text, self.timeout_seconds, stack)
            raise SkillTimeout(f"skill {skill.name!r} timed out after {self.timeout_seconds:g} s")
        if "error" in outcome:
            raise outcome["error"]
        return outcome["reply"]

    def close(self) -> None:
        """Close every skill once; a failing close is logged and the others still close."""
        skills, self._skills, self._by_intent = self._skills, [], {}
        for skill in skills:
            try:
                skill.close()
            except Exception:
                logger.exception("closing skill %s failed", skill.name)
        resources, self._resources = self._resources, []
        for resource in resources:
            resource.close()

    def __enter__(self) -> SkillRegistry:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
