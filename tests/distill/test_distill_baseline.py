"""The whole distill.baseline chain on a tiny configuration: train, Optimum export, INT8, bundle."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("optimum.exporters.onnx")
ort = pytest.importorskip("onnxruntime")
np = pytest.importorskip("numpy")
Tokenizer = pytest.importorskip("tokenizers").Tokenizer

from edge.nlu.bundle import check_bundle_files, read_labels, read_manifest  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = Path(os.environ.get("EDGE_DATA_DIR", REPO_ROOT.parent / "shared" / "data"))
BUNDLE_FILES = {"model.onnx", "tokenizer.json", "labels.json", "bundle.json", "MODEL_CARD.md"}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (DATA_DIR / "hwu64" / "split_dialoglue" / "train.tsv").is_file():
        pytest.skip(f"HWU64 data not found under {DATA_DIR}; set EDGE_DATA_DIR")
    out = tmp_path_factory.mktemp("bundle") / "tiny-int8"
    work = tmp_path_factory.mktemp("work")
    command = [
        sys.executable,
        "-m",
        "distill.baseline",
        "--out",
        str(out),
        "--data",
        str(DATA_DIR),
        "--limit",
        "200",
        "--epochs",
        "1",
        "--max-length",
        "32",
        "--latency-queries",
        "50",
        "--work-dir",
        str(work),
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        pytest.fail(f"distill.baseline failed ({result.returncode}):\n{result.stderr[-4000:]}")
    return out


def test_bundle_holds_exactly_the_shipped_files(bundle: Path) -> None:
    check_bundle_files(bundle)
    assert {p.name for p in bundle.iterdir()} == BUNDLE_FILES


def test_manifest_and_labels(bundle: Path) -> None:
    manifest, labels = read_manifest(bundle), read_labels(bundle)
    assert manifest.format_version == 1
    assert manifest.max_length == 32
    assert manifest.oos_label == "out_of_scope"
    assert len(labels.intents) == 65 and labels.intents[-1] == "out_of_scope"
    assert "alarm_set" in labels.intents and "iot_hue_lightoff" in labels.intents
    assert labels.slot_tags[0] == "O" and "B-date" in labels.slot_tags and "I-date" in labels.slot_tags
    assert len(labels.slot_tags) % 2 == 1  # O plus a B-/I- pair per slot type
    assert manifest.temperature > 0 and 0.0 <= manifest.oos_threshold < 1.0
    assert manifest.command.startswith("python -m distill.baseline --out ")
    assert manifest.quantization["weights_dtype"] == "QInt8" and manifest.quantization["per_channel"] is True
    for name in (
        "hwu64_test_accuracy",
        "slot_f1",
        "oos_recall",
        "in_scope_false_reject_rate",
        "ece",
        "size_mb",
        "latency_ms_mean",
        "latency_ms_p95",
    ):
        assert isinstance(manifest.metrics[name], float), name
    assert manifest.metrics["fp32"]["size_mb"] > 3 * manifest.metrics["size_mb"]
    assert manifest.created and manifest.base_model
    card = (bundle / "MODEL_CARD.md").read_text()
    assert manifest.command in card and "--evaluate-only" in card


def test_tokenizer_truncates_to_max_length(bundle: Path) -> None:
    tokenizer = Tokenizer.from_file(str(bundle / "tokenizer.json"))
    encoding = tokenizer.encode("wake me up " * 40)
    assert len(encoding.ids) == 32
    assert encoding.tokens[0] == "[CLS]" and encoding.tokens[-1] == "[SEP]"


def test_int8_model_runs_with_the_documented_inputs_and_outputs(bundle: Path) -> None:
    labels = read_labels(bundle)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(bundle / "model.onnx"), options, providers=["CPUExecutionProvider"])
    assert [(i.name, i.type) for i in session.get_inputs()] == [
        ("input_ids", "tensor(int64)"),
        ("attention_mask", "tensor(int64)"),
    ]
    assert [o.name for o in session.get_outputs()] == ["intent_logits", "slot_logits"]
    tokenizer = Tokenizer.from_file(str(bundle / "tokenizer.json"))
    encodings = tokenizer.encode_batch(["wake me up at five am this week", "what is the weather"])
    ids = np.asarray([e.ids for e in encodings], dtype=np.int64)
    mask = np.asarray([e.attention_mask for e in encodings], dtype=np.int64)
    intent_logits, slot_logits = session.run(None, {"input_ids": ids, "attention_mask": mask})
    assert intent_logits.shape == (2, len(labels.intents))
    assert slot_logits.shape == (2, ids.shape[1], len(labels.slot_tags))
    assert np.isfinite(intent_logits).all() and np.isfinite(slot_logits).all()
    # Batch 1 without padding makes the same decisions as the padded batch. Dynamic INT8 computes
    # activation scales over the padding too, so the logits differ a little: compare the top intent
    # and the slot tags, and the logits only relative to their spread (the model card says so).
    length = int(mask[1].sum())
    single_intents, single_slots = session.run(None, {"input_ids": ids[1:, :length], "attention_mask": mask[1:, :length]})
    assert single_intents[0].argmax() == intent_logits[1].argmax()
    assert (single_slots[0].argmax(-1) == slot_logits[1, :length].argmax(-1)).all()
    spread = float(np.ptp(intent_logits[1]))
    assert np.abs(single_intents[0] - intent_logits[1]).max() <= 0.25 * spread
    assert "Padded batches are supported" in (bundle / "MODEL_CARD.md").read_text()


def test_evaluate_only_reproduces_the_recorded_accuracy(bundle: Path) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "distill.baseline",
            "--evaluate-only",
            str(bundle),
            "--data",
            str(DATA_DIR),
            "--limit",
            "200",
            "--latency-queries",
            "20",
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    metrics = json.loads(result.stdout[result.stdout.index("{") :])
    recorded = read_manifest(bundle).metrics
    assert metrics["hwu64_test_accuracy"] == pytest.approx(recorded["hwu64_test_accuracy"], abs=1e-6)
    assert metrics["slot_f1"] == pytest.approx(recorded["slot_f1"], abs=1e-6)
