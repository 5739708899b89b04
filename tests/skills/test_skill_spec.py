"""Skill declarations (YAML), sentence templates, slot types and the training examples they give."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from edge.core.text.normalize import normalize_utterance
from edge.skills.examples import collect_skill_examples, expand_spec, to_bio
from edge.skills.slots import Money, SlotContext, parse_slot
from edge.skills.spec import SkillSpecError, parse_skill_spec
from edge.skills.templates import TemplateError, match_template, parse_template, sample_skeletons, skeletons

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))  # a Wednesday

GOOD = """\
skill: tea
intents:
  tea_brew:
    sentences:
      - (brew | make) [me] a cup of {tea} tea
    slots:
      tea: {type: choice, required: true, ask: "Which tea?", values: {green: [], black: [breakfast]}}
      cups: number
"""


def test_a_valid_declaration():
    spec = parse_skill_spec(GOOD, "tea.yaml")
    intent = spec.intents["tea_brew"]
    assert spec.skill == "tea"
    assert intent.slots["tea"].required and intent.slots["tea"].ask == "Which tea?"
    assert intent.slots["tea"].values == {"green": (), "black": ("breakfast",)}
    assert intent.slots["cups"].type == "number"
    assert intent.source == "tea.yaml:3"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD.replace('ask: "Which tea?"', "ask: Which tea?"), r"tea.yaml:7: not valid YAML \(expected ',' or '}'"),
        (GOOD.replace("    sentences:", "   sentences:"), r"tea.yaml:\d: not valid YAML"),
        (GOOD.replace("type: choice", "type: chioce"), r"tea.yaml:7: slot 'tea' has unknown type 'chioce'"),
        (GOOD.replace(', ask: "Which tea?"', ""), r"tea.yaml:7: required slot 'tea' needs 'ask'"),
        (GOOD.replace("{tea} tea", "{kind} tea"), r"tea.yaml:5: sentence .* uses undeclared slot 'kind'"),
        (GOOD.replace("[me]", "[me"), r"tea.yaml:5: tea_brew: missing '\]'"),
        (GOOD.replace("    slots:", "    slot:"), r"tea.yaml:6: unknown key 'slot' in intent 'tea_brew'"),
        (GOOD.replace("skill: tea", "skill: ''"), r"tea.yaml:1: 'skill' must be a non-empty str"),
        ("- a list\n", r"tea.yaml:1: a skill declaration is a mapping"),
    ],
)
def test_invalid_declarations_name_file_and_line(text, message):
    with pytest.raises(SkillSpecError, match=message):
        parse_skill_spec(text, "tea.yaml")


def test_template_parsing_and_errors():
    tree = parse_template("book a hotel [room] (in | near) {place}")
    assert tree.slot_names() == {"place"}
    shapes = {" ".join(getattr(piece, "text", "{" + getattr(piece, "name", "") + "}") for piece in shape)
              for shape in skeletons(tree)}
    assert shapes == {"book a hotel room in {place}", "book a hotel room near {place}", "book a hotel in {place}",
                      "book a hotel near {place}"}
    for bad in ("a (b | c", "a b]", "{Place}", "a }"):
        with pytest.raises(TemplateError):
            parse_template(bad)
    assert len(sample_skeletons("(a | b | c) (d | e | f) (g | h)", limit=5)) == 5
    assert sample_skeletons("(a | b | c) (d | e)", limit=3) == sample_skeletons("(a | b | c) (d | e)", limit=3)


def test_template_matching_tries_every_split():
    tree = parse_template("remind me to {task} {when}")

    def validate(slot, words):
        if slot == "when":
            return parse_slot("datetime", words, SlotContext(NOW, strict=True))
        return " ".join(words)

    found = match_template(tree, "remind me to call mom at five pm".split(), validate)
    assert found is not None
    bound, literal = found
    assert bound["task"][1] == "call mom" and bound["when"][1].spoken == "5:00 PM today"
    assert literal == 3
    assert match_template(tree, "remind me to call mom".split(), validate) is None


@pytest.mark.parametrize(
    ("kind", "said", "value"),
    [
        ("money", "about 200 yuan", Money(200.0, "CNY")),
        ("money", "two hundred and fifty dollars a night", Money(250.0, "USD")),
        ("money", "i'd say around 300", Money(300.0, "")),
        ("number", "make it five", 5),
        ("date", "friday", date(2026, 11, 27)),
        ("date", "the day after tomorrow", date(2026, 11, 27)),
        ("datetime", "in ten minutes", NOW + timedelta(minutes=10)),
        ("datetime", "tomorrow at 7 am", datetime(2026, 11, 26, 7, 0, tzinfo=NOW.tzinfo)),
        ("datetime", "this sunday", datetime(2026, 11, 29, 9, 0, tzinfo=NOW.tzinfo)),
        ("datetime", "tomorrow evening", datetime(2026, 11, 26, 18, 0, tzinfo=NOW.tzinfo)),
        ("datetime", "tonight", datetime(2026, 11, 25, 20, 0, tzinfo=NOW.tzinfo)),
        ("duration", "an hour and a half", timedelta(minutes=90)),
        ("quantity", "ten miles", None),
    ],
)
def test_slot_types_read_spoken_answers(kind, said, value):
    found = parse_slot(kind, normalize_utterance(said).split(), SlotContext(NOW))
    assert found is not None
    if value is not None:
        assert found.value == value


def test_choice_is_strict_in_templates_and_lenient_in_answers():
    values = {"beijing west station": ("beijing west",), "london": ()}
    lenient, strict = SlotContext(NOW, values), SlotContext(NOW, values, strict=True)
    assert parse_slot("place", "i want to stay near beijing west".split(), lenient).spoken == "Beijing West Station"
    assert parse_slot("place", "near beijing west".split(), strict) is None
    assert parse_slot("place", "the beijing west".split(), strict).value == "beijing west station"
    assert parse_slot("place", "paris".split(), strict) is None
    assert parse_slot("place", "paris".split(), SlotContext(NOW, values, open=True, strict=True)).spoken == "Paris"
    assert parse_slot("money", "about two hundred".split(), lenient).value == Money(200.0)
    assert parse_slot("money", "mom at five".split(), strict) is None


def test_examples_are_labelled_with_spans():
    spec = parse_skill_spec(GOOD.replace("tea: {", "tea: {samples: [jasmine], ").replace(", values: {green: [], black: [breakfast]}", ""), "t")
    examples = expand_spec(spec)
    assert {example.text for example in examples} == {"brew me a cup of jasmine tea", "brew a cup of jasmine tea",
                                                      "make me a cup of jasmine tea", "make a cup of jasmine tea"}
    example = next(example for example in examples if example.text == "make a cup of jasmine tea")
    assert example.intent == "tea_brew"
    assert example.slots[0].slot == "tea" and example.text[example.slots[0].start:example.slots[0].end] == "jasmine"
    assert to_bio(example) == (["make", "a", "cup", "of", "jasmine", "tea"], ["O", "O", "O", "O", "B-tea", "O"])


def test_every_builtin_intent_yields_examples():
    problems: list[str] = []
    examples = collect_skill_examples(per_sentence=5, entry_points=False, problems=problems)
    assert problems == []
    intents = {example.intent for example in examples}
    assert {"hotel_book", "lists_createoradd", "reminder_set", "memory_remember", "unit_convert", "weather_query",
            "iot_hue_lighton", "audio_volume_set", "alarm_set"} <= intents
    hotel = next(example for example in examples if example.intent == "hotel_book" and example.slots)
    assert {span.slot for span in hotel.slots} <= {"place_name", "date", "budget"}  # model slot names where mapped
    for example in examples:
        assert example.text == normalize_utterance(example.text)
        for span in example.slots:
            assert example.text[span.start:span.end] == span.value


def test_lenient_answers_take_the_first_value_said():
    context = SlotContext(NOW)
    assert parse_slot("money", "about two hundred u one".split(), context).value == Money(200.0)
    assert parse_slot("money", "i think two hundred yuan would be fine".split(), context).value == Money(200.0, "CNY")
    assert parse_slot("number", "maybe three or four".split(), context).value == 3


def test_an_open_place_prefers_a_known_name_inside_misheard_words():
    context = SlotContext(NOW, {"beijing west station": ("beijing west",)}, open=True, strict=True)
    assert parse_slot("place", "beijing west asian".split(), context).value == "beijing west station"
    assert parse_slot("place", "ulaanbaatar".split(), context).value == "ulaanbaatar"
