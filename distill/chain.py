"""The generic training chain: labelled examples -> fine-tuned MiniLM joint model -> Optimum ONNX
-> INT8 (device profile preset) -> calibration -> bundle, measured with the device runtime.

`distill.baseline` is the HWU64-specific recipe with its own card; this is the same chain for any
`{"train", "valid", "test"}` split of `distill.data.Example` (Rhino contexts, CSV files, ...).
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from distill.data.public import Splits
from distill.data.records import OOS_LABEL, DataFormatError
from distill.profiles import DeviceProfile

log = logging.getLogger(__name__)
BUNDLE_FILES = ("model.onnx", "tokenizer.json", "labels.json", "bundle.json", "MODEL_CARD.md")


@dataclass(frozen=True)
class ChainSettings:
    epochs: int = 3
    batch_size: int = 16
    learning_rate: float = 1e-4  # encoder
    head_learning_rate: float = 1e-3
    max_length: int = 48  # tokens, including [CLS] and [SEP]
    seed: int = 13
    threshold_rule: str = "accuracy"
    opset: int = 17


def build_bundle(
    splits: Splits, out: Path, settings: ChainSettings, profile: DeviceProfile, command: str, work: Path | None = None
) -> dict[str, Any]:
    """Train and write the bundle to `out`; returns bundle.json's contents. Scratch files (fp32
    ONNX, quantizer output) go to `work`, else to a temporary folder removed afterwards."""
    if work is None:
        with tempfile.TemporaryDirectory(prefix="distill-chain-") as scratch:
            return build_bundle(splits, out, settings, profile, command, Path(scratch))
    from distill import evaluate as ev
    from distill.baseline import BASE_MODEL, shipped_tokenizer
    from distill.export import export_onnx
    from distill.hwu64 import slot_tag_set
    from distill.quantize import quantize_for_profile

    splits = _seen_intents_only(splits)
    if not splits.get("train") or not splits.get("valid"):
        raise DataFormatError(
            "training needs train and valid examples; files are split 10% valid / 10% test per intent, "
            "so give at least 10 examples per intent (or add --oos for CLINC150 out-of-scope validation items)"
        )
    data = {split: [e.to_utterance() for e in items] for split, items in splits.items()}
    intents = sorted({u.intent for u in data["train"]} - {OOS_LABEL}) + [OOS_LABEL]
    slot_tags = slot_tag_set(data["train"])
    tokenizer = shipped_tokenizer(settings.max_length)
    model, training = _fine_tune(data, tokenizer, intents, slot_tags, settings)
    fp32_path = export_onnx(model, work / "onnx", opset=settings.opset)
    staging = work / "bundle"
    staging.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(staging / "tokenizer.json"))
    quantization = quantize_for_profile(
        fp32_path, staging / "model.onnx", profile, "auto", staging / "tokenizer.json", data["valid"]
    )
    (staging / "labels.json").write_text(json.dumps({"intents": intents, "slot_tags": slot_tags}, indent=2) + "\n")
    valid = ev.predict(ev.open_session(staging / "model.onnx"), tokenizer, data["valid"], slot_tags)
    calibration = ev.calibrate(
        valid, ev.labels_of(data["valid"], intents), intents.index(OOS_LABEL), settings.threshold_rule
    )
    manifest = {
        "format_version": 1,
        "max_length": settings.max_length,
        "temperature": calibration["temperature"],
        "oos_label": OOS_LABEL,
        "oos_threshold": calibration["oos_threshold"],
        "device_profile": profile.name,
        "quantization": {**quantization, "profile": asdict(profile)},
        "metrics": {"validation": calibration, "training": training, "data": {s: len(v) for s, v in splits.items()}},
        "command": command,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "base_model": BASE_MODEL,
    }
    _write(staging, out, manifest)
    return manifest


def _seen_intents_only(splits: Splits) -> Splits:
    """`splits` without the valid/test items whose intent has no training example (e.g. after
    `distill train --limit`): the model has no output for them, so they cannot be encoded."""
    seen = {e.intent for e in splits.get("train", [])} | {OOS_LABEL}
    kept: Splits = {}
    for split, items in splits.items():
        kept[split] = items if split == "train" else [e for e in items if e.intent in seen]
        if len(kept[split]) < len(items):
            log.warning(
                "%s: dropped %d items whose intent has no training example", split, len(items) - len(kept[split])
            )
    return kept


def _fine_tune(data, tokenizer, intents: list[str], slot_tags: list[str], settings: ChainSettings):
    from distill.baseline import base_model_dir
    from distill.joint_model import new_model
    from distill.train import encode, seed_everything, settings_from, train

    train_settings = settings_from(settings)
    train_set, valid_set = (encode(data[split], tokenizer, intents, slot_tags) for split in ("train", "valid"))
    seed_everything(settings.seed)
    model = new_model(str(base_model_dir()), intents, slot_tags)
    started = time.perf_counter()
    history = train(model, train_set, valid_set, slot_tags, train_settings)
    record = {**asdict(settings), "seconds": round(time.perf_counter() - started, 1), "history": history}
    return model, record


def _write(staging: Path, out: Path, manifest: dict[str, Any]) -> None:
    from distill.card import generic_card
    from distill.provenance import rounded

    (staging / "bundle.json").write_text(json.dumps(rounded(manifest), indent=2) + "\n")
    (staging / "MODEL_CARD.md").write_text(generic_card(manifest))
    out.mkdir(parents=True, exist_ok=True)
    for name in BUNDLE_FILES:
        shutil.copyfile(staging / name, out / name)
    log.info("wrote %s", out)
