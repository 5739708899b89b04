"""Unit conversion (`unit_convert`): length, mass, volume, speed and temperature.

    "convert ten miles to kilometers" -> "10 miles is 16.09 kilometers."
    "how many pounds in a kilogram"   -> "1 kilogram is 2.2 pounds."

`parse_unit` and `parse_quantity` are the slot types `unit` and `quantity` (edge/skills/slots.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from edge.numbers import format_number_for_speech, parse_number_words
from edge.skills.base import SkillReply, SkillRequest
from edge.skills.declared import DeclaredSkill


@dataclass(frozen=True)
class Unit:
    name: str  # plural, as spoken
    dimension: str
    factor: float  # base units per unit
    offset: float = 0.0  # temperatures: base = value * factor + offset (kelvin)


def _units() -> dict[str, Unit]:
    table: dict[str, Unit] = {}

    def add(names: str, dimension: str, factor: float, offset: float = 0.0) -> None:
        spoken = names.split(",")
        unit = Unit(spoken[0].strip(), dimension, factor, offset)
        table.update({name.strip(): unit for name in spoken})

    add("meters,meter,metres,metre,m", "length", 1.0)
    add("kilometers,kilometer,kilometres,kilometre,km,kms", "length", 1000.0)
    add("centimeters,centimeter,centimetres,centimetre,cm", "length", 0.01)
    add("millimeters,millimeter,millimetres,millimetre,mm", "length", 0.001)
    add("miles,mile", "length", 1609.344)
    add("yards,yard", "length", 0.9144)
    add("feet,foot,ft", "length", 0.3048)
    add("inches,inch", "length", 0.0254)
    add("kilograms,kilogram,kilos,kilo,kg,kgs", "mass", 1.0)
    add("grams,gram,g", "mass", 0.001)
    add("pounds,pound,lbs,lb", "mass", 0.45359237)
    add("ounces,ounce,oz", "mass", 0.028349523125)
    add("stone,stones", "mass", 6.35029318)
    add("tonnes,tonne,tons,ton", "mass", 1000.0)
    add("liters,liter,litres,litre,l", "volume", 1.0)
    add("milliliters,milliliter,millilitres,millilitre,ml", "volume", 0.001)
    add("gallons,gallon", "volume", 3.785411784)
    add("pints,pint", "volume", 0.473176473)
    add("cups,cup", "volume", 0.2365882365)
    add("tablespoons,tablespoon,tbsp", "volume", 0.01478676478125)
    add("teaspoons,teaspoon,tsp", "volume", 0.00492892159375)
    add("fluid ounces,fluid ounce", "volume", 0.0295735295625)
    add("kilometers per hour,kilometres per hour,kilometer per hour,km/h,kph", "speed", 1 / 3.6)
    add("miles per hour,mile per hour,mph", "speed", 0.44704)
    add("meters per second,metres per second,meter per second", "speed", 1.0)
    add("knots,knot", "speed", 0.514444)
    add("degrees celsius,celsius,centigrade,degrees centigrade,degree celsius", "temperature", 1.0, 273.15)
    add("degrees fahrenheit,fahrenheit,degree fahrenheit", "temperature", 5 / 9, 273.15 - 32 * 5 / 9)
    add("kelvin,kelvins", "temperature", 1.0)
    return table


UNITS = _units()
_LONGEST = max(len(name.split()) for name in UNITS)


def parse_unit(words: Sequence[str], context) -> object:
    """The whole of `words` (fillers aside) as a unit name: ['kilometers'] -> SlotValue(Unit)."""
    from edge.skills.slots import SlotValue, strip_fillers

    words = strip_fillers(words)
    unit = UNITS.get(" ".join(words))
    return None if unit is None else SlotValue(" ".join(words), unit, unit.name)


def parse_quantity(words: Sequence[str], context) -> object:
    """'ten miles', 'a kilogram', 'minus 40 degrees celsius' -> SlotValue((amount, Unit))."""
    from edge.skills.slots import SlotValue, strip_fillers

    words = strip_fillers(words) if words[:1] != ["a"] else list(words)
    sign = -1 if words[:1] in (["minus"], ["negative"]) else 1
    words = words[1:] if sign < 0 else words
    found = parse_number_words(words)
    if found is None and words[:1] in (["a"], ["an"]):
        found = (1, 1)
    if found is None:
        return None
    amount, used = found
    unit = UNITS.get(" ".join(words[used:]))
    if unit is None:
        return None
    value = sign * amount
    return SlotValue(" ".join(words), (value, unit), f"{format_number_for_speech(value)} {unit.name}")


def convert(amount: float, source: Unit, target: Unit) -> float:
    base = amount * source.factor + source.offset
    return (base - target.offset) / target.factor


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
