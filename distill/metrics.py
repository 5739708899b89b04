"""Pure-numpy scoring: slot spans, temperature, out-of-scope threshold, calibration error.

Slot decoding follows the runtime: take the argmax tag of every token, skip special tokens
(offsets (0, 0)), start a span at B-x (or at an I-x that does not continue an x span), extend
it over following I-x tokens, and report (type, start char, end char) on the normalised text.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edge.nlu.oos import PROBABILITY, in_scope_scores, out_of_scope_mask

Span = tuple[str, int, int]  # slot type, start char, end char (exclusive)


def decode_spans(tag_ids: Sequence[int], offsets: Sequence[tuple[int, int]], slot_tags: Sequence[str]) -> list[Span]:
    spans: list[Span] = []
    current: list | None = None
    for tag_id, (start, end) in zip(tag_ids, offsets, strict=True):
        if start == end:  # [CLS], [SEP], padding
            continue
        tag = slot_tags[int(tag_id)]
        if tag == "O":
            current = None
            continue
        prefix, slot_type = tag[:1], tag[2:]
        if prefix == "I" and current is not None and current[0] == slot_type:
            current[2] = end
            continue
        current = [slot_type, start, end]
        spans.append(current)  # type: ignore[arg-type]
    return [tuple(span) for span in spans]  # type: ignore[misc]


def gold_spans(text: str, word_tags: Sequence[str]) -> list[Span]:
    """Word-level BIO tags on a space-separated text -> character spans."""
    spans: list[Span] = []
    current: list | None = None
    position = 0
    for word, tag in zip(text.split(" "), word_tags, strict=True):
        start, end = position, position + len(word)
        position = end + 1
        if tag == "O":
            current = None
        elif tag.startswith("I-") and current is not None and current[0] == tag[2:]:
            current[2] = end
        else:
            current = [tag[2:], start, end]
            spans.append(current)  # type: ignore[arg-type]
    return [tuple(span) for span in spans]  # type: ignore[misc]


def span_f1(predicted: Sequence[Sequence[Span]], gold: Sequence[Sequence[Span]]) -> dict[str, float]:
    """Micro precision / recall / F1 over exact (type, start, end) matches."""
    hits = sum(len(set(p) & set(g)) for p, g in zip(predicted, gold, strict=True))
    n_predicted = sum(len(set(p)) for p in predicted)
    n_gold = sum(len(set(g)) for g in gold)
    precision = hits / n_predicted if n_predicted else 0.0
    recall = hits / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    scaled = logits / temperature
    scaled = scaled - scaled.max(axis=-1, keepdims=True)
    exp = np.exp(scaled)
    return exp / exp.sum(axis=-1, keepdims=True)


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    probabilities = softmax(logits, temperature)[np.arange(len(labels)), labels]
    return float(-np.log(np.clip(probabilities, 1e-12, None)).mean())


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature minimising NLL: a log-spaced grid, then a finer grid around the best."""
    grid = np.exp(np.linspace(np.log(0.05), np.log(20.0), 200))
    best = min(grid, key=lambda t: nll(logits, labels, t))
    fine = np.linspace(best * 0.95, best * 1.05, 101)
    return float(min(fine, key=lambda t: nll(logits, labels, t)))


def predict_with_threshold(probabilities: np.ndarray, oos_index: int, threshold: float) -> np.ndarray:
    """Argmax, replaced by the out-of-scope index where the top probability is below threshold."""
    predicted = probabilities.argmax(axis=-1)
    return np.where(probabilities.max(axis=-1) < threshold, oos_index, predicted)


THRESHOLD_RULES = {
    "accuracy": "accuracy over all validation utterances (in scope: right intent and not rejected; "
    "out of scope: predicted or rejected as out of scope)",
    "balanced": "balanced accuracy: the mean of in-scope accuracy (right intent and not rejected) "
    "and out-of-scope recall (predicted or rejected as out of scope)",
    "oos_recall:R": "in-scope accuracy, among the thresholds whose out-of-scope recall is at least R "
    "(e.g. oos_recall:0.85: catch 85% of out-of-scope requests, reject as few others as possible)",
}


def describe_threshold_rule(rule: str) -> str:
    target = check_threshold_rule(rule)
    if target is None:
        return THRESHOLD_RULES[rule]
    return THRESHOLD_RULES["oos_recall:R"].split(" (e.g.")[0].replace("at least R", f"at least {target:.0%}")


def check_threshold_rule(rule: str) -> float | None:
    """The recall target of an `oos_recall:R` rule (None for the others); ValueError if unknown."""
    if rule in ("accuracy", "balanced"):
        return None
    name, _, value = rule.partition(":")
    try:
        target = float(value)
    except ValueError:
        target = -1.0
    if name != "oos_recall" or not 0 < target <= 1:
        raise ValueError(
            f"unknown threshold rule {rule!r}; choose accuracy, balanced or oos_recall:R with 0 < R <= 1"
        )
    return target


def choose_threshold(
    probabilities: np.ndarray, labels: np.ndarray, oos_index: int, rule: str = "accuracy"
) -> tuple[float, float]:
    """The threshold maximising `THRESHOLD_RULES[rule]`; ties go to the lowest threshold.
    Returns (threshold, score)."""
    candidates = np.concatenate([[0.0], np.unique(np.round(probabilities.max(axis=-1), 4))])
    threshold, best = best_threshold(
        probabilities.max(axis=-1), probabilities.argmax(axis=-1), labels, oos_index, rule, candidates
    )
    return round(threshold, 4), best


def choose_oos_threshold(
    logits: np.ndarray, temperature: float, labels: np.ndarray, oos_index: int, rule: str, kind: str
) -> tuple[float, float]:
    """`choose_threshold` for any bundle `oos_score` (edge.nlu.oos), from calibrated logits. A
    logit-margin threshold is never negative: a negative margin means the top intent is already
    out of scope. Returns (threshold, score)."""
    if kind == PROBABILITY:
        return choose_threshold(softmax(logits, temperature), labels, oos_index, rule)
    scores = in_scope_scores(logits, temperature, oos_index, kind)
    candidates = np.concatenate([[0.0], np.unique(np.round(scores[scores > 0], 4))])
    threshold, best = best_threshold(scores, logits.argmax(axis=-1), labels, oos_index, rule, candidates)
    return round(threshold, 4), best


def decide_intents(logits: np.ndarray, temperature: float, oos_index: int, threshold: float, kind: str) -> np.ndarray:
    """The intent index a bundle with this calibration would report: the argmax, or the
    out-of-scope index where the bundle calls the request out of scope."""
    rejected = out_of_scope_mask(logits, temperature, oos_index, kind, threshold)
    return np.where(rejected, oos_index, logits.argmax(axis=-1))


def best_threshold(
    scores: np.ndarray, top: np.ndarray, labels: np.ndarray, oos_index: int, rule: str, candidates: np.ndarray
) -> tuple[float, float]:
    """Of `candidates` (ascending), the threshold maximising `THRESHOLD_RULES[rule]` when an item
    whose in-scope score is below it is rejected (else it is its `top` intent); ties go to the
    lowest. Any score works: the top probability (`choose_threshold`) or, say, a logit margin."""
    recall_target = check_threshold_rule(rule)
    in_scope = labels != oos_index
    if in_scope.all() or not in_scope.any():
        return 0.0, float("nan")
    best = (0.0, -1.0)
    for threshold in candidates:
        correct = np.where(scores < threshold, oos_index, top) == labels
        if recall_target is not None:  # below the target, the nearer the better, never above a hit
            recall = correct[~in_scope].mean()
            score = correct[in_scope].mean() if recall >= recall_target - 1e-12 else recall - 1
        elif rule == "balanced":
            score = (correct[in_scope].mean() + correct[~in_scope].mean()) / 2
        else:
            score = correct.mean()
        if score > best[1] + 1e-12:
            best = (float(threshold), float(score))
    return best


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """ECE of the top-1 probability in equal-width bins."""
    return top1_calibration_error(probabilities.max(axis=-1), probabilities.argmax(axis=-1) == labels, bins)


def top1_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 15) -> float:
    """Expected calibration error from each item's top-1 confidence and whether it was right."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    total = 0.0
    for low, high in zip(edges[:-1], edges[1:], strict=True):
        in_bin = (confidence > low) & (confidence <= high)
        if in_bin.any():
            total += in_bin.mean() * abs(confidence[in_bin].mean() - correct[in_bin].mean())
    return float(total)
