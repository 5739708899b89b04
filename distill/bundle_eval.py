"""Measure a bundle exactly as the device runs it (`edge.nlu.runtime.IntentModel`, 1 thread,
batch 1, tokenisation included) on labelled examples; JSON and Markdown reports.

Intent decision: the runtime's (calibrated softmax, out of scope below the bundle's threshold).
Slots: the runtime's `{name: value}` dict against the example's, scored as (name, value) pairs.
"""

from __future__ import annotations

import logging
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from distill.data.records import DataFormatError, Example
from distill.metrics import span_f1, top1_calibration_error

log = logging.getLogger(__name__)


def load_model(bundle: Path, threads: int = 1):
    from edge.core.settings import NluSettings
    from edge.nlu.runtime import IntentModel

    return IntentModel.load(NluSettings(bundle_dir=str(bundle), intra_op_threads=threads))


def evaluate_examples(
    bundle: Path, examples: list[Example], progress: bool = True, keep_predictions: bool = False
) -> dict[str, Any]:
    """The metrics below; with `keep_predictions`, also `"predicted"`: the decided intent of every
    example, in order (the out-of-scope label where the runtime rejected it), for confusion plots."""
    from tqdm.auto import tqdm

    if not examples:
        raise DataFormatError(
            "no examples to evaluate; check the dataset and --split (files without splits: --split train)"
        )
    model = load_model(bundle)
    oos = model.manifest.oos_label
    results, seconds = [], []
    for example in tqdm(examples, desc="evaluate", unit="utt", disable=not progress):
        started = time.perf_counter()
        results.append(model.predict(example.text))
        seconds.append(time.perf_counter() - started)
    gold = [e.intent for e in examples]
    decided = [oos if r.out_of_scope else r.intent for r in results]
    confidence = np.asarray([r.confidence for r in results])
    correct = np.asarray([d == g for d, g in zip(decided, gold, strict=True)])
    in_scope = np.asarray([g != oos for g in gold])
    annotated = [i for i, e in enumerate(examples) if e.slots is not None]
    slots = span_f1(
        [[(k, v, 0) for k, v in results[i].slots.items()] for i in annotated],
        [[(k, v, 0) for k, v in examples[i].slot_values().items()] for i in annotated],
    )
    exact = [correct[i] and results[i].slots == examples[i].slot_values() for i in annotated]
    times_ms = [1000 * s for s in seconds]
    return {
        "bundle": str(bundle),
        "items": len(examples),
        "accuracy": float(correct[in_scope].mean()) if in_scope.any() else None,
        "accuracy_all": float(correct.mean()),
        "macro_f1": macro_f1(gold, decided),
        **oos_scores(gold, decided, oos),
        "slot_f1": slots["f1"] if annotated else None,
        "slot_items": len(annotated),
        "exact_match": float(np.mean(exact)) if annotated else None,
        "ece": top1_calibration_error(confidence, correct),
        "size_mb": round((bundle / "model.onnx").stat().st_size / 1e6, 2),
        # what a device downloads: the model plus tokenizer, labels, manifest and card
        "bundle_size_mb": round(sum(f.stat().st_size for f in bundle.iterdir() if f.is_file()) / 1e6, 2),
        "ms_per_query_mean": statistics.fmean(times_ms),
        "ms_per_query_p95": float(np.percentile(times_ms, 95)),
        "threads": 1,
        **({"predicted": decided} if keep_predictions else {}),
    }


def macro_f1(gold: list[str], predicted: list[str]) -> float:
    """Mean F1 over the gold labels."""
    scores = []
    for label in sorted(set(gold)):
        tp = sum(g == label and p == label for g, p in zip(gold, predicted, strict=True))
        fp = sum(g != label and p == label for g, p in zip(gold, predicted, strict=True))
        fn = sum(g == label and p != label for g, p in zip(gold, predicted, strict=True))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return float(np.mean(scores))


def oos_scores(gold: list[str], predicted: list[str], oos: str) -> dict[str, Any]:
    said = sum(p == oos for p in predicted)
    actual = sum(g == oos for g in gold)
    hits = sum(g == oos and p == oos for g, p in zip(gold, predicted, strict=True))
    return {
        "oos_items": actual,
        "oos_recall": hits / actual if actual else None,
        "oos_precision": hits / said if said else None,
    }


def markdown(report: dict[str, Any], title: str) -> str:
    def cell(value: Any) -> str:
        if value is None:
            return "n/a"
        return f"{value:.4f}" if isinstance(value, float) else str(value)

    rows = "\n".join(f"| {key} | {cell(value)} |" for key, value in report.items() if not isinstance(value, dict))
    return f"# {title}\n\n| metric | value |\n| --- | --- |\n{rows}\n"
