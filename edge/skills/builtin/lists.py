"""Shopping and to-do lists: HWU64's `lists_createoradd`, `lists_query`, `lists_remove`.

Items are kept per user in the skills' database (edge/skills/memory.py). When the intent model
routes here without a sentence match, the item is read from the words around "add … to".
Every reply names the items it added or read out (`SkillReply.mentions`), so "remove it", "the
second one" or "actually make that oat milk" come back with `SkillRequest.target` set to the item.
"""

from __future__ import annotations

import re
from typing import ClassVar

from edge.skills.base import Mention, SkillReply, SkillRequest
from edge.skills.declared import DeclaredSkill
from edge.skills.phrasing import join_words

_ADD = re.compile(r"\b(?:add|put|write)\s+(?P<item>.+?)(?:\s+(?:to|on|onto|in)\s+(?:my|the|our)?\s*(?:\w+\s+)?list\b.*)?$"
                  # "and milk to my shopping list": "add" as the recogniser often hears it, when a list follows
                  r"|^(?:and|at|ad)\s+(?P<heard>.+?)\s+(?:to|on|onto)\s+(?:my|the|our)?\s*(?:\w+\s+)?list\b")
_REMOVE = re.compile(r"\b(?:remove|delete|take|cross)\s+(?P<item>.+?)(?:\s+(?:from|off)\b.*)?$")
_PATTERNS = {"lists_createoradd": _ADD, "lists_remove": _REMOVE}
_DETERMINER = re.compile(r"^(?:the|my|our|some)\s+(?=\S)")  # "take the eggs off" -> "eggs"
_ACTIONS = {"cancel": "lists_remove", "change": "lists_createoradd"}


def item_mention(list_name: str, item: str) -> Mention:
    """An item on a list, as the dialogue keeps it: "remove it" removes it, "make that X" replaces it."""
    return Mention("item", ref=f"{list_name}|{item}", name=item, actions=dict(_ACTIONS),
                   slots={"list": list_name, "item": item})


def _target(request: SkillRequest) -> tuple[str, str] | None:
    list_name, _, item = request.target.partition("|")
    return (list_name, item) if item else None


def _list_name(request: SkillRequest) -> str:
    value = request.values.get("list")
    return str(value.value) if value is not None else "shopping"


def _item(request: SkillRequest, pattern: re.Pattern[str]) -> str:
    value = request.values.get("item")
    if value is not None:
        return _DETERMINER.sub("", str(value.value))
    found = pattern.search(request.text)
    item = (found.group("item") or found.groupdict().get("heard") or "") if found else ""
    return _DETERMINER.sub("", item)


class ListsSkill(DeclaredSkill):
    spec_file: ClassVar[str] = "specs/lists.yaml"

    def accepts(self, intent: str, values: dict) -> bool:
        """Claim a sentence only for a list the YAML names or that already has items: "add song to my
        running list" or "add john to my contact list" is left to the intent model."""
        name = values.get("list")
        if name is None:
            return True
        return str(name.value) in self.spec.intents[intent].slots["list"].values or str(name.value) in self.memory.list_names()

    def slot_words(self, intent: str, text: str) -> dict[str, str]:
        """'add eggs' (routed here by the intent model) -> {'item': 'eggs'}."""
        found = _PATTERNS[intent].search(text) if intent in _PATTERNS else None
        item = (found.group("item") or found.groupdict().get("heard") or "").strip() if found else ""
        return {"item": item} if item and item not in ("something", "an item", "it") else {}

    def on_lists_createoradd(self, request: SkillRequest) -> SkillReply:
        name, item = _list_name(request), _item(request, _ADD)
        replaced = _target(request)
        if replaced is not None and replaced[1].lower() != item.lower():  # "actually make that oat milk"
            name = replaced[0]
            self.memory.remove_item(request.user, name, replaced[1])
            self.memory.add_item(request.user, name, item, self.now(request))
            return SkillReply(f"Okay, {item} instead of {replaced[1]} on your {name} list.",
                              mentions=(item_mention(name, item),))
        if not self.memory.add_item(request.user, name, item, self.now(request)):
            return SkillReply(f"{item.capitalize()} is already on your {name} list.", mentions=(item_mention(name, item),))
        return SkillReply(f"Added {item} to your {name} list.", mentions=(item_mention(name, item),))

    def on_lists_query(self, request: SkillRequest) -> SkillReply:
        name = _list_name(request)
        items = self.memory.items(request.user, name)
        if not items:
            return SkillReply(f"Your {name} list is empty.")
        count = f"{len(items)} item{'s' if len(items) != 1 else ''}"
        return SkillReply(f"Your {name} list has {count}: {join_words(items)}.",
                          card={"title": f"{name.capitalize()} list", "items": items},
                          mentions=tuple(item_mention(name, item) for item in items[:12]))

    def on_lists_remove(self, request: SkillRequest) -> SkillReply:
        target = _target(request)
        name, item = target if target is not None else (_list_name(request), _item(request, _REMOVE))
        if not item or item in ("everything", "all", "all items"):
            count = self.memory.clear_list(request.user, name)
            return SkillReply(f"Cleared your {name} list ({count} item{'s' if count != 1 else ''}).")
        if self.memory.remove_item(request.user, name, item):
            return SkillReply(f"Removed {item} from your {name} list.")
        return SkillReply(f"{item.capitalize()} isn't on your {name} list.")
