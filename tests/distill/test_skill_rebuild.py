"""A third-party skill brings its own intent into the intent model: one command each.

    pip install ./examples/skills/tea                                  # adds the intent tea_brew
    distill train hwu64 --skills --oos --out /tmp/with-tea             # rebuilds the model with it
    edge ask "could you brew a pot of jasmine tea for me" --set nlu.bundle_dir=/tmp/with-tea

The test runs the same three commands on a small configuration (`--limit 300 --epochs 2`: the
first 300 HWU64 items per split, the ~1,100 sentences the installed skills declare, CLINC150
out-of-scope; about 3-5 minutes on 2 busy cores) and checks that the *model* predicts tea_brew
for tea requests it never saw, which no declared sentence matches either: the trace's `intent` is
the model's, and `dialogue.action == "model"` says no sentence template claimed the turn.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edge.core.text.normalize import normalize_utterance
from edge.skills.examples import collect_skill_examples
from edge.skills.spec import load_skill_spec
from edge.skills.templates import match_template, parse_template, strip_polite

ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = Path(os.environ.get("EDGE_DATA_DIR", ROOT.parent / "shared" / "data"))

# Tea requests in none of the skill's sentence shapes (so neither in the training data nor matched by
# a template), with the reply the tea skill gives once the model has found the intent and the tea.
HELD_OUT = {
    "could you brew a pot of jasmine tea for me": "Brewing a cup of jasmine tea; it will be ready in 3 minutes.",
    "i fancy a cup of green tea right now": "Brewing a cup of green tea; it will be ready in 2 minutes.",
    "time for some black tea i think": "Brewing a cup of black tea; it will be ready in 4 minutes.",
}
NOT_TEA = ("wake me up at seven am tomorrow", "what's the weather in paris")


def _environment(tmp_path: Path, site: Path | None) -> dict[str, str]:
    environment = dict(os.environ, HOME=str(tmp_path), EDGE_SKILLS__DATABASE_PATH=str(tmp_path / "edge.sqlite3"),
                       OMP_WAIT_POLICY="PASSIVE")
    environment["PYTHONPATH"] = os.pathsep.join(str(path) for path in (site, ROOT) if path is not None)
    return environment


@pytest.fixture(scope="module")
def rebuilt(tea_site, tmp_path_factory) -> Path:
    """Command 2: `distill train hwu64 --skills --oos --out DIR`, small."""
    for module in ("torch", "optimum.exporters.onnx"):
        pytest.importorskip(module, reason="training needs the distill extra: pip install -e '.[distill]'")
    if not (DATA_DIR / "hwu64").is_dir() or not (DATA_DIR / "clinc150").is_dir():
        pytest.skip(f"no HWU64/CLINC150 under {DATA_DIR} (set EDGE_DATA_DIR)")
    work = tmp_path_factory.mktemp("rebuild")
    out = work / "with-tea"
    command = [sys.executable, "-m", "distill.cli", "train", "hwu64", "--skills", "--oos", "--out", str(out),
               "--data", str(DATA_DIR), "--limit", "300", "--epochs", "2", "--max-length", "32"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=1800, cwd=ROOT,
                            env=_environment(work, tea_site))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "installed skills:" in result.stderr  # distill says how many skill examples it added
    return out


def _ask_batch(tmp_path: Path, site: Path, texts, bundle: Path | None) -> list[dict]:
    """Command 3: `edge ask --json --batch FILE [--set nlu.bundle_dir=DIR]`, one trace per line."""
    requests = tmp_path / "requests.txt"
    requests.write_text("\n".join(texts) + "\n")
    settings = ["--set", f"nlu.bundle_dir={bundle}"] if bundle is not None else []
    result = subprocess.run([sys.executable, "-m", "edge", "ask", "--json", "--batch", str(requests), *settings],
                            capture_output=True, text=True, timeout=300, cwd=ROOT, env=_environment(tmp_path, site))
    assert result.returncode == 0, result.stderr[-2000:]
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def test_the_held_out_sentences_are_really_held_out(tea_site, monkeypatch):
    """Neither a training example nor a template match: only the model can recognise them."""
    monkeypatch.syspath_prepend(str(tea_site))  # the entry point is found on sys.path
    training = {example.text for example in collect_skill_examples(per_sentence=20) if example.intent == "tea_brew"}
    assert training, "the installed tea skill's examples are not collected"
    spec = load_skill_spec(tea_site / "edge_skill_tea" / "skill.yaml")
    assert not training & {normalize_utterance(text) for text in HELD_OUT}
    for text in HELD_OUT:  # not even when any words are accepted as a slot value
        words = strip_polite(normalize_utterance(text).split())
        for sentence in spec.intents["tea_brew"].sentences:
            assert match_template(parse_template(sentence), words, lambda slot, span: object()) is None, (text, sentence)


def test_the_rebuilt_bundle_carries_the_skills_intents(rebuilt):
    labels = json.loads((rebuilt / "labels.json").read_text())
    assert {"tea_brew", "hotel_book", "memory_remember", "alarm_set", "out_of_scope"} <= set(labels["intents"])
    assert {"B-tea", "I-tea", "B-cups"} <= set(labels["slot_tags"])
    manifest = json.loads((rebuilt / "bundle.json").read_text())
    assert "--skills" in manifest["command"] and manifest["metrics"]["data"]["train"] > 1000


def test_the_rebuilt_model_predicts_the_new_intent(rebuilt):
    from edge.core.settings import NluSettings
    from edge.nlu.runtime import IntentModel

    model = IntentModel.load(NluSettings(bundle_dir=str(rebuilt)))
    for text, reply in HELD_OUT.items():
        result = model.predict(normalize_utterance(text))
        tea = reply.split(" of ")[1].split(" tea")[0]
        assert (result.intent, result.out_of_scope) == ("tea_brew", False), (text, result)
        assert result.slots.get("tea") == tea, (text, result.slots)
    for text in NOT_TEA:
        assert model.predict(normalize_utterance(text)).intent != "tea_brew", text


def test_edge_ask_recognises_it_with_the_new_bundle(rebuilt, tea_site, tmp_path):
    traces = _ask_batch(tmp_path, tea_site, HELD_OUT, rebuilt)
    assert len(traces) == len(HELD_OUT)
    for trace, (text, reply) in zip(traces, HELD_OUT.items(), strict=True):
        assert trace["intent"] == "tea_brew" and not trace["out_of_scope"], trace
        assert trace["dialogue"]["action"] == "model", trace  # the model's intent, not a template match
        assert trace["route"] == "local" and trace["skill"] == "tea", trace
        assert trace["reply"] == reply, text

    shipped = _ask_batch(tmp_path, tea_site, HELD_OUT, None)  # the model shipped before the skill existed
    assert all(trace["intent"] != "tea_brew" for trace in shipped)
