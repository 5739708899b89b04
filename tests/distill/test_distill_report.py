"""The side-by-side evaluation report (distill.report) over real tiny bundles measured by the
device runtime: files written, table values equal to the metrics, hostile label names escaped,
the confusion plot embedded, readable for 151 labels, and `distill eval --report DIR`."""

from __future__ import annotations

import base64
import json
import random
import re
from pathlib import Path

import pytest

from distill.cli import main

pytest.importorskip("onnx", reason="building the tiny test bundle needs the onnx package (pip install -e '.[distill]')")
pytest.importorskip("matplotlib", reason="the confusion plot needs matplotlib (pip install -e '.[distill]')")

from helpers.tiny_bundle import build_tiny_bundle  # noqa: E402

HOSTILE = "<script>alert(1)</script>"
# "set alarm weather": alarm 6, weather 3, out_of_scope 0 -> confidence 0.95: rejected at a 0.99 threshold
CSV = f"""text,intent,slots
set an alarm for seven thirty am,alarm_set,"{{""time"": ""seven thirty am""}}"
What's the weather in New York?,weather_query,"{{""place_name"": ""new york""}}"
set alarm weather,alarm_set,{{}}
the,out_of_scope,
in york,{HOSTILE},
"""


@pytest.fixture
def examples(tmp_path: Path):
    from distill.data.tabular import load_table

    path = tmp_path / "tiny.csv"
    path.write_text(CSV)
    return load_table(path)


def _column(name: str, bundle: Path, examples):
    from distill.bundle_eval import evaluate_examples
    from distill.report import ModelColumn

    result = evaluate_examples(bundle, examples, progress=False, keep_predictions=True)
    return ModelColumn.from_evaluation(name, result, [e.intent for e in examples])


def test_side_by_side_report_files_values_and_escaping(tmp_path: Path, examples) -> None:
    from distill.report import write_report

    good = _column("INT8 <b>student</b>", build_tiny_bundle(tmp_path / "good"), examples)
    strict = _column("strict threshold", build_tiny_bundle(tmp_path / "strict", oos_threshold=0.99), examples)
    # exact figures of the tiny model: 3 of 4 in-scope right (the hostile intent is unknown to it), then 2 of 4
    assert good.metrics["accuracy"] == pytest.approx(3 / 4) and strict.metrics["accuracy"] == pytest.approx(2 / 4)
    assert good.predicted == ["alarm_set", "weather_query", "alarm_set", "out_of_scope", "weather_query"]
    assert strict.predicted[2] == "out_of_scope"

    paths = write_report(tmp_path / "report", "tiny & hostile", [good, strict], notes=[f"note {HOSTILE}"])
    assert {name: path.is_file() for name, path in paths.items()} == dict.fromkeys(
        ("json", "markdown", "html", "confusion"), True
    )
    png = paths["confusion"].read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")

    markdown = paths["markdown"].read_text()
    assert f"| accuracy | {good.metrics['accuracy']:.4f} | {strict.metrics['accuracy']:.4f} |" in markdown
    assert f"| macro-F1 | {good.metrics['macro_f1']:.4f} | {strict.metrics['macro_f1']:.4f} |" in markdown
    assert f"| slot F1 | {good.metrics['slot_f1']:.4f} | {strict.metrics['slot_f1']:.4f} |" in markdown
    assert f"| calibration error (ECE) | {good.metrics['ece']:.4f} | {strict.metrics['ece']:.4f} |" in markdown
    assert f"| size (MB) | {good.metrics['size_mb']:.2f} | {strict.metrics['size_mb']:.2f} |" in markdown
    assert "| OOS recall | 1.0000 | 1.0000 |" in markdown
    assert "| &lt;script&gt;alert(1)&lt;/script&gt; | weather_query | 1 | 1 |" in markdown
    assert "| alarm_set | out_of_scope | 0 | 1 |" in markdown

    page = paths["html"].read_text()
    assert "<script" not in page and "<b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "INT8 &lt;b&gt;student&lt;/b&gt;" in page
    assert "tiny &amp; hostile" in page
    embedded = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert embedded and base64.b64decode(embedded.group(1)) == png
    row = re.search(r"<tr><th>accuracy</th>(.*?)</tr>", page).group(1)
    assert re.findall(r'<td class="n">([^<]*)</td>', row) == ["0.7500", "0.5000"]

    report = json.loads(paths["json"].read_text())
    assert [c["name"] for c in report["columns"]] == [good.name, strict.name]
    assert report["columns"][0]["metrics"] == good.metrics
    assert report["most_confused"][0] == {
        "gold": HOSTILE,
        "predicted": "weather_query",
        "counts": {good.name: 1, strict.name: 1},
    }
    assert report["notes"] == [f"note {HOSTILE}"] and report["provenance"]["command"]


def test_many_labels_plot_only_the_most_confused(tmp_path: Path) -> None:
    """151 labels (as CLINC150): the plot keeps 20, led by the most frequent confusion."""
    from distill.report import MAX_PLOT_LABELS, ModelColumn, plot_labels, ranked_pairs, write_report

    rng = random.Random(7)
    labels = [f"intent_{i:03d}" for i in range(150)] + ["out_of_scope"]
    gold = [labels[i % len(labels)] for i in range(3000)]
    predicted = [g if rng.random() > 0.1 else rng.choice(labels) for g in gold]
    predicted[:40] = ["out_of_scope"] * 40  # intent_000 .. intent_039 -> out_of_scope, once each
    for i in range(151 * 5, 151 * 5 + 151 * 8, 151):
        predicted[i + 7] = "intent_099"  # intent_007 -> intent_099, 8 times: the top pair
    column = ModelColumn("student", {"accuracy": 0.9}, gold, predicted)
    pairs = ranked_pairs([column])
    assert pairs[0][:2] == ("intent_007", "intent_099")
    chosen = plot_labels([column], pairs)
    assert len(chosen) == MAX_PLOT_LABELS and {"intent_007", "intent_099"} <= set(chosen)
    paths = write_report(tmp_path, "many labels", [column])
    assert json.loads(paths["json"].read_text())["plot_labels"] == chosen


def test_columns_must_line_up(tmp_path: Path) -> None:
    from distill.report import ModelColumn, write_report

    with pytest.raises(ValueError, match="2 gold labels but 1 predictions"):
        write_report(tmp_path, "x", [ModelColumn("a", {}, ["x", "y"], ["x"])])
    with pytest.raises(ValueError, match="unique"):
        write_report(tmp_path, "x", [ModelColumn("a", {}, [], []), ModelColumn("a", {}, [], [])])


def test_eval_command_writes_the_report_folder(tiny_bundle: Path, tmp_path: Path, capsys) -> None:
    path = tmp_path / "tiny.csv"
    path.write_text(CSV)
    folder = tmp_path / "out" / "tiny"
    argv = ["eval", str(tiny_bundle), "--dataset", str(path), "--split", "train", "--report", str(folder)]
    assert main(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    assert "predicted" not in printed and printed["accuracy"] == pytest.approx(3 / 4)
    assert sorted(p.name for p in folder.iterdir()) == ["confusion.png", "report.html", "report.json", "report.md"]
    report = json.loads((folder / "report.json").read_text())
    assert report["columns"][0]["name"] == tiny_bundle.name
    assert report["columns"][0]["metrics"]["accuracy"] == printed["accuracy"]
    assert report["provenance"]["command"].startswith("distill eval ")
    assert "&lt;script&gt;" in (folder / "report.html").read_text()
    # the single-bundle metric list beside the folder, as before
    assert json.loads(folder.with_suffix(".json").read_text())["accuracy"] == printed["accuracy"]
