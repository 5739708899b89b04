"""A sample third-party skill: `pip install ./examples/skills/tea`, then `edge skills list`."""

from __future__ import annotations

from typing import ClassVar

from edge.skills.base import SkillReply, SkillRequest
from edge.skills.declared import DeclaredSkill

STEEP_MINUTES = {"green": 2, "black": 4, "jasmine": 3, "oolong": 5}


class TeaSkill(DeclaredSkill):
    spec_file: ClassVar[str] = "skill.yaml"

    def on_tea_brew(self, request: SkillRequest) -> SkillReply:
        tea = str(request.values["tea"].value)
        cups = int(request.values["cups"].value) if "cups" in request.values else 1
        amount = "a cup" if cups == 1 else f"{cups} cups"
        return SkillReply(f"Brewing {amount} of {tea} tea; it will be ready in {STEEP_MINUTES[tea]} minutes.")
