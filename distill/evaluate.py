"""Measure an exported intent model the way the device runs it: onnxruntime, one thread, batch 1.

Decision rule (the same on the device, `edge.nlu.oos`): probabilities = softmax(intent_logits /
temperature); the turn is out of scope when the top intent is `out_of_scope` or its in-scope score
(the bundle's `oos_score`: the top probability, or the logit margin) is below `oos_threshold`;
otherwise it is the top intent.
"""

from __future__ import annotations

import logging
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from distill.hwu64 import OOS_LABEL, Utterance
from distill.metrics import (
    choose_oos_threshold,
    decode_spans,
    expected_calibration_error,
    fit_temperature,
    gold_spans,
    nll,
    predict_with_threshold,
    softmax,
    span_f1,
)
from edge.nlu.oos import PROBABILITY

log = logging.getLogger(__name__)


@dataclass
class Predictions:
    intent_logits: np.ndarray  # [items, intents]
    spans: list[list[tuple[str, int, int]]]  # decoded slot spans per item


def open_session(model_path: Path, threads: int = 1):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])


def _feeds(encoding) -> dict[str, np.ndarray]:
    return {
        "input_ids": np.asarray([encoding.ids], dtype=np.int64),
        "attention_mask": np.asarray([encoding.attention_mask], dtype=np.int64),
    }


def predict(session, tokenizer, utterances: list[Utterance], slot_tags: list[str]) -> Predictions:
    """Run every utterance alone (batch 1), as the device does."""
    logits, spans = [], []
    for utterance in utterances:
        encoding = tokenizer.encode(utterance.text)
        intent_logits, slot_logits = session.run(["intent_logits", "slot_logits"], _feeds(encoding))
        logits.append(intent_logits[0])
        spans.append(decode_spans(slot_logits[0].argmax(-1), encoding.offsets, slot_tags))
    return Predictions(np.stack(logits).astype(np.float64), spans)


def latency_ms(session, tokenizer, texts: list[str], warmup: int = 20) -> dict[str, float]:
    """Model time per query (tokenisation excluded), batch 1, in the session's thread setting."""
    feeds = [_feeds(tokenizer.encode(text)) for text in texts]
    for feed in feeds[:warmup]:
        session.run(None, feed)
    times = []
    for feed in feeds:
        started = time.perf_counter()
        session.run(None, feed)
        times.append((time.perf_counter() - started) * 1000)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")  # other work skews the figures
    return {
        "mean": statistics.fmean(times),
        "p95": float(np.percentile(times, 95)),
        "queries": len(times),
        "load_average": load,
    }


def labels_of(utterances: list[Utterance], intents: list[str]) -> np.ndarray:
    index = {name: i for i, name in enumerate(intents)}
    return np.asarray([index[u.intent] for u in utterances])


def calibrate(
    valid: Predictions, labels: np.ndarray, oos_index: int, rule: str = "accuracy", oos_score: str = PROBABILITY
) -> dict[str, Any]:
    """Fit the temperature (min NLL) and the out-of-scope threshold (`metrics.THRESHOLD_RULES[rule]`)
    on the bundle's out-of-scope score (`edge.nlu.oos`)."""
    temperature = fit_temperature(valid.intent_logits, labels)
    threshold, best = choose_oos_threshold(valid.intent_logits, temperature, labels, oos_index, rule, oos_score)
    return {
        "temperature": temperature,
        "oos_score": oos_score,
        "oos_threshold": threshold,
        "threshold_rule": rule,
        "threshold_rule_score": best,
        "valid_nll_uncalibrated": nll(valid.intent_logits, labels, 1.0),
        "valid_nll_calibrated": nll(valid.intent_logits, labels, temperature),
    }


def score(
    test: Predictions, utterances: list[Utterance], intents: list[str], temperature: float, threshold: float
) -> dict[str, Any]:
    """Test metrics: HWU64 accuracy (64 intents; out_of_scope on an in-scope item is wrong),
    slot span F1, CLINC150 oos recall, in-scope false rejects, and calibration error (top-1, 15
    bins) on the HWU64 test items and on those plus the out-of-scope test items."""
    labels = labels_of(utterances, intents)
    oos_index = intents.index(OOS_LABEL)
    probabilities = softmax(test.intent_logits, temperature)
    argmax = probabilities.argmax(-1)
    decided = predict_with_threshold(probabilities, oos_index, threshold)
    in_scope = labels != oos_index
    annotated = [i for i, u in enumerate(utterances) if u.word_tags is not None]
    slots = span_f1(
        [test.spans[i] for i in annotated],
        [gold_spans(utterances[i].text, utterances[i].word_tags) for i in annotated],  # type: ignore[arg-type]
    )
    return {
        "hwu64_test_accuracy": float((argmax == labels)[in_scope].mean()),
        "hwu64_test_accuracy_at_threshold": float((decided == labels)[in_scope].mean()),
        "hwu64_test_items": int(in_scope.sum()),
        "slot_f1": slots["f1"],
        "slot_precision": slots["precision"],
        "slot_recall": slots["recall"],
        "slot_test_items": len(annotated),
        "oos_recall": float((decided == oos_index)[~in_scope].mean()) if (~in_scope).any() else None,
        "oos_recall_argmax_only": float((argmax == oos_index)[~in_scope].mean()) if (~in_scope).any() else None,
        "oos_test_items": int((~in_scope).sum()),
        "in_scope_false_reject_rate": float((decided == oos_index)[in_scope].mean()),
        "ece": expected_calibration_error(probabilities[in_scope], labels[in_scope]),
        "ece_uncalibrated": expected_calibration_error(softmax(test.intent_logits)[in_scope], labels[in_scope]),
        "ece_with_oos_test": expected_calibration_error(probabilities, labels),
    }


def threshold_tradeoff(
    test: Predictions,
    utterances: list[Utterance],
    intents: list[str],
    temperature: float,
    thresholds: tuple[float, ...] = (0.3, 0.5, 0.7, 0.9),
) -> list[dict[str, float]]:
    """What other thresholds would give on test: in-scope accuracy, false rejects, oos recall."""
    labels = labels_of(utterances, intents)
    oos_index = intents.index(OOS_LABEL)
    in_scope = labels != oos_index
    probabilities = softmax(test.intent_logits, temperature)
    rows = []
    for threshold in thresholds:
        decided = predict_with_threshold(probabilities, oos_index, threshold)
        rows.append(
            {
                "threshold": threshold,
                "hwu64_test_accuracy": float((decided == labels)[in_scope].mean()),
                "in_scope_false_reject_rate": float((decided == oos_index)[in_scope].mean()),
                "oos_recall": float((decided == oos_index)[~in_scope].mean()) if (~in_scope).any() else float("nan"),
            }
        )
    return rows


def size_mb(path: Path) -> float:
    return round(path.stat().st_size / 1e6, 2)
