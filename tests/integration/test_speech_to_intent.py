"""Spoken coffee orders through `edge ask --wav` with a bundle `distill rhino` made: the bundle
carries its grammar (domain.json), the ASR decodes inside it with no extra flag, the parse is
exact, and speech that is not an order is rejected by the grammar decode. Real models, real
recordings (Picovoice's speech-to-intent benchmark, dev split), real processes.

About a minute on 2 cores: the bundle is trained small (one realisation per expression, one
epoch); the grammar decode's parse does not need a strong intent model.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.whisper_onnx_fixture import ensure_whisper_onnx

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("EDGE_DATA_DIR", ROOT.parent / "shared" / "data"))
BENCH = DATA / "picovoice_speech_to_intent"
OUT_OF_CONTEXT = DATA / "rhino_intent_tests" / "test_out_of_context.wav"
# Dev clips Whisper tiny.en alone gets wrong ("I like a", "20-ounce single-shot medium-roast", "ice coffee").
CLIPS = (
    "01a50d1b-ed05-4708-b076-5387ea170058.wav",
    "05b2d348-4ab5-4ccc-a17e-3ccb3907b272.wav",
    "08b22cb8-01d7-449a-923d-1597720742f0.wav",
)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    pytest.importorskip("torch")
    pytest.importorskip("optimum.exporters.onnx")
    if not (BENCH / "dev_labels.json").is_file() or not OUT_OF_CONTEXT.is_file():
        pytest.skip(f"the speech-to-intent recordings are not in {DATA}; set EDGE_DATA_DIR")
    ensure_whisper_onnx()
    from distill.cli import main

    out = tmp_path_factory.mktemp("coffee") / "bundle"
    argv = ["rhino", str(BENCH / "coffee_maker_context.yaml"), "--out", str(out), "--data", str(out.parent),
            "--per-expression", "1", "--epochs", "1", "--max-length", "32"]
    assert main(argv) == 0
    return out


def test_the_bundle_carries_its_grammar(bundle: Path) -> None:
    domain = json.loads((bundle / "domain.json").read_text())
    assert domain["closed"] is True and list(domain["intents"]) == ["orderDrink"]
    assert "eight ounce" in domain["slots"]["size"] and len(domain["intents"]["orderDrink"]) == 80


def test_edge_ask_wav_parses_orders_exactly_and_rejects_other_speech(bundle: Path, tmp_path: Path) -> None:
    labels = json.loads((BENCH / "dev_labels.json").read_text())
    batch = tmp_path / "batch.txt"
    batch.write_text("".join(f"{BENCH / 'dev' / name}\n" for name in CLIPS) + f"{OUT_OF_CONTEXT}\n")
    command = [sys.executable, "-m", "edge", "ask", "--wav", "--batch", str(batch), "--json",
               "--set", f"nlu.bundle_dir={bundle}", "--set", f"skills.database_path={tmp_path / 'edge.sqlite3'}",
               "--set", "router.enabled=false"]
    completed = subprocess.run(command, capture_output=True, timeout=600)
    assert completed.returncode == 0, completed.stderr.decode()[-2000:]
    traces = [json.loads(line) for line in completed.stdout.decode().splitlines() if line.strip()]
    assert len(traces) == len(CLIPS) + 1
    for name, trace in zip(CLIPS, traces, strict=False):
        expected = {slot: value.strip() for slot, value in labels[name]["slots"].items()}
        assert trace["understanding"]["grammar"]["accepted"] is True, trace
        assert trace["intent"] == labels[name]["intent"] and trace["slots"] == expected, trace
    rejected = traces[-1]
    assert rejected["understanding"]["grammar"]["accepted"] is False, rejected
    assert rejected["understanding"]["grammar"]["cost_per_token"] > 1.3
    assert rejected["out_of_scope"] is True and rejected["intent"] == "out_of_scope" and not rejected["slots"]
