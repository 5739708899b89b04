"""Units of measure: length, mass, volume, speed and temperature, and converting between them.

    convert(10, UNITS["miles"], UNITS["kilometers"])   # 16.09...

The slot types `unit` and `quantity` (edge/skills/slots.py) read these names; the units skill
(edge/skills/builtin/units.py) converts.
"""

from __future__ import annotations

from dataclasses import dataclass


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


def convert(amount: float, source: Unit, target: Unit) -> float:
    base = amount * source.factor + source.offset
    return (base - target.offset) / target.factor
