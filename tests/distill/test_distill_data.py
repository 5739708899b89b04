"""distill.data: loaders on the real shared data (counts from each SOURCE.md), Rhino template
expansion with exact outputs, malformed input reported with file and line, the data report."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from distill.data.records import DataFormatError, Example, SlotSpan
from distill.data.report import data_report
from distill.data.rhino import expand_context, read_context
from distill.data.sources import load_dataset, split_examples
from distill.data.tabular import load_table
from distill.profiles import DeviceProfile, ProfileError, load_profile

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = Path(os.environ.get("EDGE_DATA_DIR", REPO_ROOT.parent / "shared" / "data"))
COFFEE = DATA_DIR / "picovoice_speech_to_intent" / "coffee_maker_context.yaml"


def need(path: Path) -> None:
    if not path.exists():
        pytest.skip(f"{path} not found; set EDGE_DATA_DIR to the shared data folder")


def counts(splits) -> dict[str, int]:
    return {split: len(items) for split, items in splits.items()}


def test_clinc150_counts_with_out_of_scope() -> None:
    need(DATA_DIR / "clinc150")
    splits = load_dataset("clinc150", DATA_DIR)
    assert counts(splits) == {"train": 15_000 + 100, "valid": 3_000 + 100, "test": 4_500 + 1_000}
    intents = {e.intent for e in splits["train"]}
    assert len(intents) == 151 and "out_of_scope" in intents and "oos" not in intents
    assert sum(e.intent == "out_of_scope" for e in splits["test"]) == 1_000
    assert splits["train"][0] == Example(
        "what expression would i use to say i love you if i were an italian", "translate"
    )


def test_hwu64_counts_and_slot_spans() -> None:
    need(DATA_DIR / "hwu64")
    splits = load_dataset("hwu64", DATA_DIR)
    assert counts(splits) == {"train": 8_954, "valid": 1_076, "test": 1_076}
    assert len({e.intent for e in splits["train"]}) == 64
    annotated = next(e for e in splits["train"] if e.slots)
    span = annotated.slots[0]
    assert annotated.text[span.start : span.end] == annotated.slot_values()[span.name]


def test_snips_joint_counts_intents_and_slots() -> None:
    need(DATA_DIR / "snips_joint")
    splits = load_dataset("snips", DATA_DIR)
    assert counts(splits) == {"train": 13_084, "valid": 700, "test": 700}
    report = data_report("snips", splits)
    assert len(report.intents["train"]) == 7 and len(report.slot_names) == 39
    first = splits["train"][0]
    assert first.text == "listen to westbam alumb allergic on google music"
    assert first.slot_values() == {"artist": "westbam", "album": "allergic", "service": "google music"}


def test_banking77_counts_with_a_seeded_validation_split() -> None:
    need(DATA_DIR / "banking77")
    splits = load_dataset("banking77", DATA_DIR)
    assert splits["test"] and len(splits["test"]) == 3_080
    assert len(splits["train"]) + len(splits["valid"]) == 10_003
    assert len({e.intent for e in splits["train"]}) == 77
    assert splits["train"][0].text == "i am still waiting on my card"
    assert counts(load_dataset("banking77", DATA_DIR)) == counts(splits)  # the same split every run


def test_coffee_maker_context_reads_and_expands() -> None:
    need(COFFEE)
    context = read_context(COFFEE)
    assert list(context.expressions) == ["orderDrink"] and len(context.expressions["orderDrink"]) == 80
    assert {k: len(v) for k, v in context.slots.items()} == {
        "size": 7,
        "roast": 3,
        "numberOfShots": 3,
        "coffeeDrink": 10,
        "milkAmount": 36,
        "sugarAmount": 18,
    }
    examples = expand_context(context, per_expression=8, seed=13)
    assert len(examples) == 640 and examples == expand_context(context, per_expression=8, seed=13)
    for example in examples:
        assert example.word_tags() is not None
        for span in example.slots:
            assert example.text[span.start : span.end] in context.slots[span.name]


INLINE_CONTEXT = """\
context:
  expressions:
    changeState:
      - "[turn, switch] (the) $room:room lights $state:state"
    orderDrink:
      - "(please) make me a $drink:coffee"
  slots:
    state: ["on", "off"]
    room: [kitchen, living room]
    drink: [latte]
"""


def test_template_expansion_exact(tmp_path: Path) -> None:
    path = tmp_path / "ctx.yaml"
    path.write_text(INLINE_CONTEXT)
    examples = expand_context(read_context(path), per_expression=100)
    assert [(e.text, e.intent, e.slot_values()) for e in examples] == [
        ("turn the kitchen lights on", "changeState", {"room": "kitchen", "state": "on"}),
        ("turn the kitchen lights off", "changeState", {"room": "kitchen", "state": "off"}),
        ("turn the living room lights on", "changeState", {"room": "living room", "state": "on"}),
        ("turn the living room lights off", "changeState", {"room": "living room", "state": "off"}),
        ("turn kitchen lights on", "changeState", {"room": "kitchen", "state": "on"}),
        ("turn kitchen lights off", "changeState", {"room": "kitchen", "state": "off"}),
        ("turn living room lights on", "changeState", {"room": "living room", "state": "on"}),
        ("turn living room lights off", "changeState", {"room": "living room", "state": "off"}),
        ("switch the kitchen lights on", "changeState", {"room": "kitchen", "state": "on"}),
        ("switch the kitchen lights off", "changeState", {"room": "kitchen", "state": "off"}),
        ("switch the living room lights on", "changeState", {"room": "living room", "state": "on"}),
        ("switch the living room lights off", "changeState", {"room": "living room", "state": "off"}),
        ("switch kitchen lights on", "changeState", {"room": "kitchen", "state": "on"}),
        ("switch kitchen lights off", "changeState", {"room": "kitchen", "state": "off"}),
        ("switch living room lights on", "changeState", {"room": "living room", "state": "on"}),
        ("switch living room lights off", "changeState", {"room": "living room", "state": "off"}),
        ("please make me a latte", "orderDrink", {"coffee": "latte"}),
        ("make me a latte", "orderDrink", {"coffee": "latte"}),
    ]
    assert examples[2].slots == (SlotSpan("room", 9, 20), SlotSpan("state", 28, 30))
    assert examples[2].word_tags() == ("O", "O", "B-room", "I-room", "O", "B-state")
    sampled = expand_context(read_context(path), per_expression=3, seed=1)
    assert len([e for e in sampled if e.intent == "changeState"]) <= 3  # capped by a seeded sample
    assert sampled == expand_context(read_context(path), per_expression=3, seed=1)


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("context:\n  expressions:\n    a: [x]\n    b: c: d\n  slots: {}\n", 4, "not valid YAML"),
        (
            'context:\n  expressions:\n    a:\n      - "turn $nope:x"\n  slots:\n    s: [a]\n',
            4,
            "'nope' is not declared",
        ),
        ('context:\n  expressions:\n    a:\n      - "[turn, switch on"\n  slots:\n    s: [a]\n', 4, "unclosed"),
        ("context:\n  expressions:\n    a: [x]\n  slots:\n    s: []\n", 5, "non-empty list"),
    ],
)
def test_malformed_context_names_file_and_line(tmp_path: Path, text: str, line: int, words: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(DataFormatError, match=rf"bad\.yaml:{line}: .*{words}"):
        read_context(path)


def test_csv_and_jsonl_with_slots(tmp_path: Path) -> None:
    csv_path = tmp_path / "data.csv"
    csv_path.write_text('text,intent,slots\nWake me at 7:30,alarm_set,"{""time"": ""seven thirty""}"\nhi,greet,\n')
    assert load_table(csv_path) == [
        Example("wake me at seven thirty", "alarm_set", (SlotSpan("time", 11, 23),)),
        Example("hi", "greet"),
    ]
    jsonl = tmp_path / "data.jsonl"
    jsonl.write_text(
        '{"text": "play jazz", "intent": "play_music", "slots": {"genre": "jazz"}}\n\n{"text": "x", "intent": "y"}\n'
    )
    assert load_table(jsonl)[0].slot_values() == {"genre": "jazz"}


@pytest.mark.parametrize(
    ("name", "text", "where"),
    [
        ("a.csv", "text,intent\nhello,greet\nbye,farewell,extra\n", "a.csv:3: expected 2 columns"),
        (
            "b.csv",
            'text,intent,slots\nplay jazz,music,"{""genre"": ""rock""}"\n',
            "b.csv:2: slot genre='rock' does not occur",
        ),
        ("c.csv", "words,label\nhi,greet\n", "c.csv:1: a CSV needs a header"),
        ("d.jsonl", '{"text": "hi", "intent": "greet"}\n{"text": "hi"\n', "d.jsonl:2: not valid JSON"),
        ("e.jsonl", '{"text": "hi"}\n', "e.jsonl:1: expected"),
    ],
)
def test_malformed_tables_name_file_and_line(tmp_path: Path, name: str, text: str, where: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(DataFormatError, match=where.replace(".", r"\.").replace("(", r"\(")):
        load_table(path)


def test_report_flags_labels_with_too_few_examples() -> None:
    examples = [Example(f"set alarm {i}", "alarm_set") for i in range(30)] + [Example("hi there", "greet")]
    splits = split_examples(examples, seed=13)
    assert counts(splits) == {"train": 25, "valid": 3, "test": 3}
    report = data_report("inline", splits, min_examples=10)
    assert report.warnings[0] == "intent 'greet' has 1 training examples (< 10); add examples or merge it"
    assert any("no valid examples: greet" in w for w in report.warnings)


def test_unknown_dataset_says_what_is_accepted(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="banking77, clinc150, clinc150_plus, hwu64, snips"):
        load_dataset("atis", tmp_path)


def test_device_profile_from_toml_or_generic(tmp_path: Path) -> None:
    from distill.profiles import PROFILES_DIR

    assert load_profile("generic", tmp_path) == DeviceProfile()
    (tmp_path / "x86-64.toml").write_text((PROFILES_DIR / "x86-64.toml").read_text())
    profile = load_profile("x86-64", tmp_path)
    assert (profile.architecture, profile.quantization_preset, profile.static) == ("x86_64", "avx2", False)
    with pytest.raises(ProfileError, match="known: x86-64"):
        load_profile("rpi9", tmp_path)
    npu = load_profile("rk3588")  # an NPU: static QDQ, calibrated
    assert (npu.quantization_format, npu.static, npu.calibration_samples) == ("QDQ", True, 600)
    broken = (PROFILES_DIR / "x86-64.toml").read_text().replace('optimum_preset = "avx2"', 'optimum_preset = ""')
    (tmp_path / "odd.toml").write_text(broken.replace('name = "x86-64"', 'name = "odd"'))
    with pytest.raises(ProfileError, match="dynamic INT8 needs an Optimum preset"):
        load_profile("odd", tmp_path)
    (tmp_path / "partial.toml").write_text('name = "partial"\n[cpu]\narchitecture = "x86_64"\n')
    with pytest.raises(ProfileError, match="partial.toml"):
        load_profile("partial", tmp_path)


@pytest.mark.parametrize(("name", "preset"), [("rpi5", "arm64"), ("x86-64", "avx2"), ("generic", "arm64")])
def test_shipped_device_profiles_give_a_preset(name: str, preset: str) -> None:
    from distill.profiles import PROFILES_DIR

    if not (PROFILES_DIR / f"{name}.toml").is_file():
        pytest.skip(f"devices/profiles/{name}.toml not there yet (the devices package is in progress)")
    assert load_profile(name).quantization_preset == preset
