"""The `distill` CLI: data report, eval through the device runtime (exact figures on the tiny
bundle), a newer bundle format refused, and the Rhino one-command path (slow)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from distill.cli import main

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = Path(os.environ.get("EDGE_DATA_DIR", REPO_ROOT.parent / "shared" / "data"))
COFFEE = DATA_DIR / "picovoice_speech_to_intent" / "coffee_maker_context.yaml"
TINY_CSV = """text,intent,slots
set an alarm for seven thirty am,alarm_set,"{""time"": ""seven thirty am""}"
What's the weather in New York?,weather_query,"{""place_name"": ""new york""}"
the,alarm_set,
"""


def test_data_command_prints_counts_and_warnings(tmp_path: Path, capsys) -> None:
    path = tmp_path / "tiny.csv"
    path.write_text(TINY_CSV)
    assert main(["data", str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["counts"] == {"train": 3, "valid": 0, "test": 0}
    assert report["slot_names"] == ["place_name", "time"]
    assert "intent 'alarm_set' has 2 training examples (< 10); add examples or merge it" in report["warnings"]


def test_data_command_reports_malformed_line(tmp_path: Path, capsys) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "hi", "intent": "greet"}\nnot json\n')
    assert main(["data", str(path)]) == 2
    assert "bad.jsonl:2: not valid JSON" in capsys.readouterr().err


def test_eval_through_the_device_runtime(tiny_bundle: Path, tmp_path: Path, capsys) -> None:
    path = tmp_path / "tiny.csv"
    path.write_text(TINY_CSV)
    report_stem = tmp_path / "report" / "tiny"
    assert (
        main(["eval", str(tiny_bundle), "--dataset", str(path), "--split", "train", "--report", str(report_stem)]) == 0
    )
    report = json.loads(capsys.readouterr().out)
    # "the" votes weakly for out_of_scope: the runtime rejects it, so the third item is wrong
    assert report["items"] == 3 and report["accuracy"] == pytest.approx(2 / 3)
    # exact match (intent and every slot value) counts the two annotated items only
    assert report["slot_items"] == 2 and report["slot_f1"] == 1.0 and report["exact_match"] == 1.0
    assert report["macro_f1"] == pytest.approx((2 * 1 / (2 * 1 + 0 + 1) + 1.0) / 2)
    assert report["oos_items"] == 0 and report["oos_recall"] is None and report["oos_precision"] == 0.0
    assert report["size_mb"] >= 0 and report["ms_per_query_mean"] > 0 and report["threads"] == 1
    every_file = sum(f.stat().st_size for f in tiny_bundle.iterdir() if f.is_file())
    assert every_file > (tiny_bundle / "model.onnx").stat().st_size  # the tokenizer, labels and manifest count too
    assert report["bundle_size_mb"] == round(every_file / 1e6, 2)
    assert json.loads(report_stem.with_suffix(".json").read_text())["accuracy"] == report["accuracy"]
    assert "| slot_f1 | 1.0000 |" in report_stem.with_suffix(".md").read_text()


def test_eval_refuses_a_newer_bundle_format(tmp_path: Path, capsys) -> None:
    pytest.importorskip("onnx")
    from helpers.tiny_bundle import build_tiny_bundle

    bundle = build_tiny_bundle(tmp_path / "future", format_version=99)
    path = tmp_path / "tiny.csv"
    path.write_text(TINY_CSV)
    assert main(["eval", str(bundle), "--dataset", str(path), "--split", "train"]) == 2
    err = capsys.readouterr().err
    assert "bundle format 99 is newer than this runtime understands" in err and "upgrade the edge package" in err


def test_baseline_subcommand_still_dispatches(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["baseline", "--help"])
    assert exit_info.value.code == 0
    assert "--evaluate-only" in capsys.readouterr().out


TINY_CONTEXT = """\
context:
  expressions:
    changeState:
      - "[turn, switch] (the) $room:room lights $state:state"
      - "$state:state the $room:room lights"
    orderDrink:
      - "(please) [make me, can I get] a $size:size $drink:drink"
  slots:
    state: ["on", "off"]
    room: [kitchen, living room, bedroom, hallway]
    size: [small, large, medium]
    drink: [latte, iced mocha, espresso, tea]
"""


def test_rhino_one_command_on_a_tiny_context(tmp_path: Path, capsys) -> None:
    """Expand, train, export, INT8, calibrate, check: about 25 s on 2 cores."""
    pytest.importorskip("torch")
    pytest.importorskip("optimum.exporters.onnx")
    context, out = tmp_path / "ctx.yaml", tmp_path / "bundle"
    context.write_text(TINY_CONTEXT)
    argv = [
        "rhino",
        str(context),
        "--out",
        str(out),
        "--data",
        str(tmp_path),  # no CLINC150 here: no oos items
        "--per-expression",
        "20",
        "--epochs",
        "10",
        "--batch-size",
        "8",
        "--max-length",
        "24",
    ]
    assert main(argv) == 0
    assert {p.name for p in out.iterdir()} == {
        "model.onnx",
        "tokenizer.json",
        "labels.json",
        "bundle.json",
        "MODEL_CARD.md",
        "domain.json",
    }
    domain = json.loads((out / "domain.json").read_text())  # the context itself, for the device's ASR and snapping
    assert domain["slots"]["room"] == ["kitchen", "living room", "bedroom", "hallway"]
    assert domain["intents"]["orderDrink"] == [[
        {"choice": ["please", ""]}, {"choice": ["make me", "can i get"]}, {"choice": ["a"]},
        {"slot": "size", "name": "size"}, {"slot": "drink", "name": "drink"},
    ]]
    manifest = json.loads((out / "bundle.json").read_text())
    labels = json.loads((out / "labels.json").read_text())
    assert labels["intents"] == ["changeState", "orderDrink", "out_of_scope"]
    assert labels["slot_tags"] == ["O"] + [f"{p}-{n}" for n in ("drink", "room", "size", "state") for p in "BI"]
    assert manifest["device_profile"] == "generic" and manifest["command"] == "distill " + " ".join(argv)
    check = manifest["metrics"]["rhino_exact_parse"]
    assert check["sentences"] >= 3 and check["exact"] == check["sentences"], check["failures"]
    assert manifest["metrics"]["test"]["accuracy"] == 1.0
    assert "held-out context sentences parsed exactly" in capsys.readouterr().out
    assert manifest["command"] in (out / "MODEL_CARD.md").read_text()


@pytest.mark.slow
def test_rhino_context_converts_in_one_command(tmp_path: Path, capsys) -> None:
    """The coffee-maker context: about 4-5 minutes on a 2-core CPU (run with -m slow)."""
    pytest.importorskip("torch")
    if not COFFEE.is_file():
        pytest.skip(f"{COFFEE} not found; set EDGE_DATA_DIR")
    out = tmp_path / "coffee"
    # How long it takes is a benchmark's business (about 4-5 minutes on a quiet 2-core CPU), not a test's.
    assert main(["rhino", str(COFFEE), "--out", str(out), "--data", str(DATA_DIR)]) == 0
    check = json.loads((out / "bundle.json").read_text())["metrics"]["rhino_exact_parse"]
    assert check["sentences"] >= 150 and check["exact"] == check["sentences"], check["failures"][:5]
