"""Slot snapping (edge/nlu/snap.py): spans become declared values, numbers and units normalised,
or are dropped as unsure."""

from __future__ import annotations

import pytest

from edge.core.domain import Choice, Domain, SlotRef
from edge.nlu.snap import closest, normalise_span, snap_slots

SIZES = ("small", "medium", "large", "eight ounce", "twelve ounce", "sixteen ounce", "twenty ounce")
DRINKS = ("americano", "cappuccino", "espresso", "iced mocha", "latte", "mocha", "coffee", "drip coffee")
ROASTS = ("light roast", "medium roast", "dark roast")
DOMAIN = Domain(
    intents={"orderDrink": ((Choice(("i want",)), SlotRef("size", "size"), SlotRef("roast", "roast"),
                             SlotRef("coffeeDrink", "coffeeDrink")),)},
    slots={"size": SIZES, "roast": ROASTS, "coffeeDrink": DRINKS},
)


@pytest.mark.parametrize("span, value", [
    ("8 ounce", "eight ounce"), ("eight oz", "eight ounce"), ("8-ounces", "eight ounce"), ("12 oz", "twelve ounce"),
    ("Medium", "medium"), ("eight", "eight ounce"),
])
def test_numbers_and_units_are_normalised(span, value) -> None:
    assert closest(span, SIZES)[0] == value


@pytest.mark.parametrize("span, value", [
    ("capacino", "cappuccino"), ("maricano", "americano"), ("lat", "latte"), ("moco", "mocha"),
    ("ice mocha", "iced mocha"), ("expresso", "espresso"),
])
def test_misheard_words_snap_to_the_value_they_sound_like(span, value) -> None:
    assert closest(span, DRINKS)[0] == value


def test_snapping_reports_the_raw_span_and_drops_what_is_not_close() -> None:
    snapped = snap_slots({"size": "8 oz", "roast": "dark", "coffeeDrink": "helicopter", "extra": "x"}, DOMAIN, 0.6)
    assert snapped.slots == {"size": "eight ounce", "roast": "dark roast", "extra": "x"}
    assert snapped.raw == {"size": "8 oz", "roast": "dark", "coffeeDrink": "helicopter"}
    assert snapped.unsure == ["coffeeDrink"]


def test_an_exact_value_is_kept_and_not_reported() -> None:
    snapped = snap_slots({"size": "large", "coffeeDrink": "latte"}, DOMAIN, 0.6)
    assert snapped.slots == {"size": "large", "coffeeDrink": "latte"} and not snapped.raw and not snapped.unsure
    assert normalise_span("Twenty OZ") == "twenty ounce"
