"""`distill promote`: the regression registry and the promotion gate, with real tiny bundles
measured by the device runtime (no stand-in evaluator)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distill.cli import main
from distill.promote import DEFAULT_REGISTRY, Check, compare, load_examples, load_registry

# "set alarm weather": alarm 6, weather 3, out_of_scope 0 -> confidence 0.95, rejected at a 0.99 threshold
SET_CSV = """text,intent,slots
set an alarm for seven thirty am,alarm_set,"{""time"": ""seven thirty am""}"
What's the weather in New York?,weather_query,"{""place_name"": ""new york""}"
set alarm weather,alarm_set,{}
the,out_of_scope,
"""
REGISTRY = """\
# one product line
[[set]]
name = "tiny-home"
dataset = "sets/home.csv"
"""


@pytest.fixture
def bundles(tmp_path: Path) -> dict[str, Path]:
    """deployed: the tiny model; equal: the same votes, a lower threshold (no sentence changes);
    worse: a 0.99 threshold that rejects 'set alarm weather'."""
    pytest.importorskip("onnx", reason="building the tiny test bundle needs the onnx package")
    from helpers.tiny_bundle import build_tiny_bundle

    return {
        "deployed": build_tiny_bundle(tmp_path / "serve" / "intent"),
        "equal": build_tiny_bundle(tmp_path / "equal", oos_threshold=0.4),
        "worse": build_tiny_bundle(tmp_path / "worse", oos_threshold=0.99),
    }


@pytest.fixture
def registry(tmp_path: Path) -> Path:
    (tmp_path / "reg" / "sets").mkdir(parents=True)
    (tmp_path / "reg" / "sets" / "home.csv").write_text(SET_CSV)
    path = tmp_path / "reg" / "registry.toml"
    path.write_text(REGISTRY)
    return path


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def promote(candidate: Path, deployed: Path, registry: Path, *extra: str) -> int:
    return main(["promote", str(candidate), "--deployed", str(deployed), "--registry", str(registry), *extra])


def records(deployed: Path) -> list[dict]:
    folder = deployed.with_name(deployed.name + ".promotions")
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


def test_refuses_a_worse_candidate_and_leaves_the_deployed_bundle_alone(bundles, registry, capsys) -> None:
    deployed = bundles["deployed"]
    before = snapshot(deployed)
    assert promote(bundles["worse"], deployed, registry) == 1
    captured = capsys.readouterr()
    assert "refused: set 'tiny-home', accuracy: candidate 0.6667 vs deployed 1.0000 (tolerance 0)" in captured.err
    assert snapshot(deployed) == before
    assert sorted(p.name for p in deployed.parent.iterdir()) == ["intent", "intent.promotions"]
    (record,) = records(deployed)
    assert record["decision"] == "refused"
    assert [(c["set"], c["metric"]) for c in record["blocked_by"]] == [("tiny-home", "accuracy")]
    # default metrics: accuracy, slot F1, and OOS recall because the set has out_of_scope items
    assert [c["metric"] for c in record["checks"]] == ["accuracy", "slot_f1", "oos_recall"]
    assert record["sets"]["tiny-home"]["items"] == 4


def test_promotes_an_equal_candidate_and_keeps_the_previous_one(bundles, registry, tmp_path, capsys) -> None:
    deployed, equal = bundles["deployed"], bundles["equal"]
    (equal / "MODEL_CARD.md").write_text("# Tiny model\n\nIts own figures.\n")
    old, new = snapshot(deployed), snapshot(equal)
    assert promote(equal, deployed, registry) == 0
    assert "promoted:" in capsys.readouterr().out
    previous = deployed.with_name("intent.previous")
    assert snapshot(previous) == old
    installed = snapshot(deployed)
    record = json.loads(installed.pop("promotion.json"))
    card = installed.pop("MODEL_CARD.md").decode()
    assert card.startswith(new.pop("MODEL_CARD.md").decode().rstrip())  # the candidate's card, plus the gate
    assert "## Regression sets at promotion" in card and "| tiny-home | accuracy | 100.00% | 100.00% |" in card
    assert installed == new and snapshot(equal)["model.onnx"] == new["model.onnx"]  # copied, not moved
    assert record["decision"] == "promoted" and record["previous"] == str(previous.resolve())
    assert record["candidate"]["model_sha256"] == record["deployed"]["model_sha256"]  # same weights
    assert all(c["passed"] for c in record["checks"])
    assert sorted(p.name for p in deployed.parent.iterdir()) == ["intent", "intent.previous", "intent.promotions"]

    # a second promotion replaces .previous with the bundle it displaces
    from helpers.tiny_bundle import build_tiny_bundle

    third = build_tiny_bundle(tmp_path / "third", oos_threshold=0.3)
    assert promote(third, deployed, registry) == 0
    assert json.loads((previous / "bundle.json").read_text())["oos_threshold"] == 0.4
    assert json.loads((deployed / "bundle.json").read_text())["oos_threshold"] == 0.3
    assert [r["decision"] for r in records(deployed)] == ["promoted", "promoted"]


def test_dry_run_and_tolerance(bundles, registry, capsys) -> None:
    deployed, worse = bundles["deployed"], bundles["worse"]
    before = snapshot(deployed)
    assert promote(worse, deployed, registry, "--dry-run") == 1
    assert promote(worse, deployed, registry, "--dry-run", "--tolerance", "0.34") == 0
    assert "would promote:" in capsys.readouterr().out
    assert snapshot(deployed) == before and not deployed.with_name("intent.previous").exists()
    assert [r["decision"] for r in records(deployed)] == ["would refuse", "would promote"]


def test_candidate_must_be_a_bundle(bundles, registry, tmp_path, capsys) -> None:
    assert promote(tmp_path / "nowhere", bundles["deployed"], registry) == 2
    assert "nowhere does not exist" in capsys.readouterr().err
    assert promote(bundles["deployed"], bundles["deployed"], registry) == 2
    assert "is the deployed bundle" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[set]]\nname = "a"\ndataset = "x.csv\n', ":3: not valid TOML"),
        ("title = 'no sets'\n", ":1: expected one or more [[set]] tables"),
        (
            '[[set]]\nname = "a"\ndataset = "x.csv"\n\n[[set]]\nname = "b"\ndatset = "y.csv"\n',
            ":7: set 2: unknown key 'datset'",
        ),
        ('[[set]]\nname = "a"\n', ":1: set 1: 'dataset' must be a non-empty string"),
        ('[[set]]\nname = "a"\ndataset = "hwu64"\nsplit = "dev"\n', ":4: set 1: split 'dev' is not one of"),
        ('[[set]]\nname = "a"\ndataset = "hwu64"\nmetrics = ["acc"]\n', ":4: set 1: metrics must be a non-empty list"),
        (
            '[[set]]\nname = "a"\ndataset = "x.csv"\n[[set]]\nname = "a"\ndataset = "y.csv"\n',
            ":5: set name 'a' is used twice",
        ),
    ],
)
def test_malformed_registry_names_file_and_line(tmp_path, bundles, capsys, text, message) -> None:
    path = tmp_path / "registry.toml"
    path.write_text(text)
    assert promote(bundles["equal"], bundles["deployed"], path) == 2
    assert f"distill promote: {path}{message}" in capsys.readouterr().err


def test_missing_registry_is_named(tmp_path, bundles, capsys) -> None:
    path = tmp_path / "absent.toml"
    assert promote(bundles["equal"], bundles["deployed"], path) == 2
    assert f"{path}: no regression registry here; pass --registry FILE" in capsys.readouterr().err


def test_compare_directions_and_missing_values() -> None:
    deployed = {"accuracy": 0.9, "ece": 0.05, "oos_recall": None, "oos_precision": 0.8, "slot_f1": None}
    candidate = {"accuracy": 0.9, "ece": 0.06, "oos_recall": 0.7, "oos_precision": None, "slot_f1": None}
    metrics = ("accuracy", "ece", "oos_recall", "oos_precision", "slot_f1")
    assert compare("s", metrics, deployed, candidate, 0.0) == [
        Check("s", "accuracy", 0.9, 0.9, True),
        Check("s", "ece", 0.05, 0.06, False),  # lower is better
        Check("s", "oos_recall", None, 0.7, True),
        Check("s", "oos_precision", 0.8, None, False),  # a value lost counts as worse
        Check("s", "slot_f1", None, None, True),  # not measured on either
    ]
    assert compare("s", ("ece",), deployed, candidate, 0.02)[0].passed


def test_shipped_registry_loads_and_the_skills_set_is_current() -> None:
    from edge.skills.examples import collect_skill_examples

    sets = load_registry(DEFAULT_REGISTRY)
    assert [s.name for s in sets] == ["skills", "hwu64-test", "clinc150-out-of-scope"]
    skills = load_examples(sets[0], Path("unused: a file set"))
    assert len(skills) >= 300 and all(e.slots is not None for e in skills)
    declared = {e.intent for e in collect_skill_examples(per_sentence=1, entry_points=False)}
    assert {e.intent for e in skills} == declared
    assert sets[2].intents == ("out_of_scope",) and sets[2].metrics == ("oos_recall",)
