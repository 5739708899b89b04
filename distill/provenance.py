"""Provenance recorded beside a model: library versions, machine, data counts; readable floats."""

from __future__ import annotations

import argparse
import platform
from pathlib import Path
from typing import Any

from distill.hwu64 import OOS_LABEL, Utterance


def environment() -> dict[str, str]:
    from importlib.metadata import version

    import onnxruntime
    import torch
    import transformers

    cpu = platform.processor()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [
            line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if line.startswith("model name")
        ]
        cpu = f"{names[0] if names else cpu} x{len(names)}"
    return {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "optimum": version("optimum"),
        "optimum_onnx": version("optimum-onnx"),
        "onnxruntime": onnxruntime.__version__,
        "python": platform.python_version(),
        "machine": f"{cpu}, {platform.machine()}, {platform.system()}",
    }


def data_summary(args: argparse.Namespace, data: dict[str, list[Utterance]]) -> dict[str, Any]:
    counts = {split: sum(u.intent != OOS_LABEL for u in items) for split, items in data.items()}
    oos = {f"oos_{split}": sum(u.intent == OOS_LABEL for u in items) for split, items in data.items()}
    plus = (args.data / "clinc150" / "data_oos_plus.json").is_file()
    return {
        **counts,
        "oos_train": oos["oos_train"],
        "oos_valid": oos["oos_valid"],
        "oos_test": oos["oos_test"],
        "train_annotated": sum(u.word_tags is not None for u in data["train"]),
        "oos_train_source": "clinc150/data_oos_plus.json oos_train" if plus else "clinc150/data_full.json oos_train",
        "sources": ["hwu64/split_dialoglue", "hwu64/hwu64_annotated_10fold.tsv", "clinc150/data_full.json"]
        + (["clinc150/data_oos_plus.json"] if plus else []),
        "limit": args.limit,
    }


def rounded(value: Any, digits: int = 6) -> Any:
    """Floats rounded for a readable bundle.json, recursively."""
    if isinstance(value, float):
        return round(value, digits)
    if isinstance(value, dict):
        return {key: rounded(item, digits) for key, item in value.items()}
    if isinstance(value, list):
        return [rounded(item, digits) for item in value]
    return value
