"""Unit conversion (`unit_convert`): length, mass, volume, speed and temperature.

    "convert ten miles to kilometers" -> "10 miles is 16.09 kilometers."
    "how many pounds in a kilogram"   -> "1 kilogram is 2.2 pounds."

The units themselves are edge/skills/quantities.py; the slot types `unit` and `quantity` that
read them are in edge/skills/slots.py.
"""

from __future__ import annotations

from typing import ClassVar

from edge.core.text.numbers import format_number_for_speech
from edge.skills.base import SkillReply, SkillRequest
from edge.skills.declared import DeclaredSkill
from edge.skills.quantities import Unit, convert


def _say(amount: float, unit: Unit) -> str:
    rounded = round(amount, 2) if abs(amount) >= 0.1 else float(f"{amount:.3g}")
    name = unit.name
    if rounded == 1 and name.endswith("s") and unit.dimension != "temperature":
        name = {"feet": "foot", "inches": "inch"}.get(name, name[:-1])
    return f"{format_number_for_speech(rounded)} {name}"


class UnitsSkill(DeclaredSkill):
    spec_file: ClassVar[str] = "specs/units.yaml"

    def on_unit_convert(self, request: SkillRequest) -> SkillReply:
        amount, source = request.values["quantity"].value
        target: Unit = request.values["unit"].value
        if source.dimension != target.dimension:
            return SkillReply(f"I can't convert {source.name} ({source.dimension}) to {target.name} ({target.dimension}).")
        result = convert(float(amount), source, target)
        return SkillReply(f"{_say(float(amount), source)} is {_say(result, target)}.")
