"""A bundle's domain (edge.core.domain) and its word graph (edge.core.grammar): round trip, strict
reading, and exact parses of sentences the grammar allows."""

from __future__ import annotations

import json

import pytest

from edge.core.domain import Choice, Domain, DomainError, SlotRef
from edge.core.grammar import Parse, WordGraph

DOMAIN = Domain(
    intents={
        "orderDrink": (
            (Choice(("i want", "give me")), Choice(("a", "")), SlotRef("size", "size"), SlotRef("drink", "drink")),
            (Choice(("brew",)), SlotRef("drink", "drink"), Choice(("with",)), SlotRef("milk", "milkAmount")),
        ),
        "stop": ((Choice(("stop",)),),),
    },
    slots={"size": ("small", "eight ounce"), "drink": ("latte", "iced mocha", "mocha"), "milk": ("milk", "a bit of milk")},
)


def test_domain_round_trips_through_json() -> None:
    text = json.dumps(DOMAIN.to_json())
    assert Domain.from_json(json.loads(text), "domain.json") == DOMAIN
    assert DOMAIN.slot_types() == {"size": "size", "drink": "drink", "milkAmount": "milk"}
    assert {"eight", "ounce", "iced", "give", "brew", "stop"} <= DOMAIN.words()


@pytest.mark.parametrize("change, message", [
    ({"format_version": 99}, "format_version"),
    ({"slots": {"size": []}}, "slots"),
    ({"intents": {"x": [[{"slot": "colour", "name": "c"}]]}}, "not declared"),
    ({"intents": {"x": [[{"words": "hi"}]]}}, "a piece is"),
])
def test_a_malformed_domain_names_the_field(change, message) -> None:
    data = {**DOMAIN.to_json(), **change}
    with pytest.raises(DomainError, match=message):
        Domain.from_json(data, "domain.json")


def test_the_graph_parses_sentences_of_the_grammar_exactly() -> None:
    graph = WordGraph.of(DOMAIN)
    assert graph.parse("i want a eight ounce iced mocha".split()) == Parse(
        "orderDrink", {"size": "eight ounce", "drink": "iced mocha"})
    assert graph.parse("give me small mocha".split()) == Parse("orderDrink", {"size": "small", "drink": "mocha"})
    assert graph.parse("brew latte with a bit of milk".split()) == Parse(
        "orderDrink", {"drink": "latte", "milkAmount": "a bit of milk"})
    assert graph.parse(["stop"]) == Parse("stop", {})


def test_the_graph_refuses_what_the_grammar_does_not_allow() -> None:
    graph = WordGraph.of(DOMAIN)
    assert graph.parse("i want a large latte".split()) is None  # large is not a declared size
    assert graph.parse("i want a small".split()) is None  # the drink is missing
    assert graph.parse("stop please".split()) is None
    assert graph.parse([]) is None
