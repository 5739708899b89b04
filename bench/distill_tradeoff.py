"""A finished `distill run`: the side-by-side report (teacher, fp32 and INT8 students) plus the
out-of-scope trade-off of the teacher and the INT8 student, in-scope accuracy and out-of-scope
recall on validation and test for a range of thresholds (each model with its own temperature
fitted on validation). A threshold must be chosen on validation; the test columns show what each
choice costs.

`oos_scores` compares two ways to score "in scope" (higher: more in scope): the calibrated top
probability the bundle uses today, and the logit margin (best in-scope logit minus the
out_of_scope logit, which the softmax's normalisation does not blur). For each: the threshold the
run's `threshold_rule` picks on validation, and, as an analysis only (a threshold chosen on test
is no deployable figure), the in-scope accuracy where exactly 85% of the test out-of-scope
utterances are caught, the operating point of the CLINC150 target.

    python -m bench.distill_tradeoff configs/clinc150.yaml [--set work=runs/clinc150-l6 ...]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from bench.provenance import write_result

THRESHOLDS = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
TEST_RECALL = 0.85


def in_scope_scores(logits: np.ndarray, oos: int, kind: str, temperature: float) -> tuple[np.ndarray, np.ndarray]:
    """(score, intent) per item. `probability`: the top class as the device picks it (an
    out_of_scope top class scores -inf); `logit_margin`: the best in-scope intent, scored by
    its logit minus the out_of_scope logit."""
    from distill.metrics import softmax

    if kind == "probability":
        probabilities = softmax(logits, temperature)
        top = probabilities.argmax(-1)
        return np.where(top == oos, -np.inf, probabilities.max(-1)), top
    in_scope = logits.copy()
    in_scope[:, oos] = -np.inf
    top = in_scope.argmax(-1)
    return in_scope.max(-1) - logits[:, oos], top


def decide(score: np.ndarray, top: np.ndarray, oos: int, threshold: float) -> np.ndarray:
    return np.where(score < threshold, oos, top)


def rates(decided: np.ndarray, labels: np.ndarray, oos: int) -> dict[str, float]:
    in_scope = labels != oos
    return {
        "in_scope_accuracy": round(float((decided == labels)[in_scope].mean()), 4),
        "oos_recall": round(float((decided == oos)[~in_scope].mean()), 4),
    }


def oos_scores(valid_logits, test_logits, valid_labels, test_labels, oos: int, rule: str) -> dict:
    from distill.metrics import best_threshold, fit_temperature

    temperature = fit_temperature(valid_logits, valid_labels)
    result = {}
    for kind in ("probability", "logit_margin"):
        valid_score, valid_top = in_scope_scores(valid_logits, oos, kind, temperature)
        test_score, test_top = in_scope_scores(test_logits, oos, kind, temperature)
        candidates = np.unique(valid_score[np.isfinite(valid_score)])
        chosen, _ = best_threshold(valid_score, valid_top, valid_labels, oos, rule, candidates)
        at_recall = float(np.quantile(test_score[test_labels == oos], TEST_RECALL))
        result[kind] = {
            "threshold_rule": rule,
            "validation_threshold": round(chosen, 4),
            "test_at_validation_threshold": rates(decide(test_score, test_top, oos, chosen), test_labels, oos),
            f"test_at_{TEST_RECALL:.0%}_test_oos_recall": rates(
                decide(test_score, test_top, oos, np.nextafter(at_recall, np.inf)), test_labels, oos
            ),
        }
    return result


def tradeoff(valid_logits, test_logits, valid_labels, test_labels, oos: int) -> list[dict]:
    from distill.metrics import fit_temperature, predict_with_threshold, softmax

    temperature = fit_temperature(valid_logits, valid_labels)
    rows = []
    for threshold in THRESHOLDS:
        row = {"threshold": threshold}
        for split, logits, labels in (("valid", valid_logits, valid_labels), ("test", test_logits, test_labels)):
            decided = predict_with_threshold(softmax(logits, temperature), oos, threshold)
            in_scope = labels != oos
            row[f"{split}_in_scope_accuracy"] = float((decided == labels)[in_scope].mean())
            row[f"{split}_oos_recall"] = float((decided == oos)[~in_scope].mean()) if (~in_scope).any() else None
        rows.append(row)
    return rows


def main() -> None:
    import yaml
    from tokenizers import Tokenizer

    from distill import evaluate as ev
    from distill.run import Run, load_config

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config", type=Path)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="as for `distill run`")
    parser.add_argument("--name", help="result file name (default distill_<run name>)")
    args = parser.parse_args()
    overrides = {k: yaml.safe_load(v) for k, _, v in (item.partition("=") for item in args.set)}
    run = Run(load_config(args.config, overrides))
    data, intents, slot_tags, _ = run.data()
    oos = intents.index("out_of_scope")
    labels = {split: np.asarray([intents.index(u.intent) for u in data[split]]) for split in ("valid", "test")}
    teacher_logits = {split: run.teacher_arrays(split)["logits"].astype(np.float64) for split in ("valid", "test")}
    teacher = tradeoff(teacher_logits["valid"], teacher_logits["test"], labels["valid"], labels["test"], oos)
    bundle = run.config.out
    tokenizer = Tokenizer.from_file(str(bundle / "tokenizer.json"))
    session = ev.open_session(bundle / "model.onnx")
    logits = {split: ev.predict(session, tokenizer, data[split], slot_tags).intent_logits for split in ("valid", "test")}
    student = tradeoff(logits["valid"], logits["test"], labels["valid"], labels["test"], oos)
    rule = run.config.threshold_rule
    scores = {
        "teacher": oos_scores(teacher_logits["valid"], teacher_logits["test"], labels["valid"], labels["test"], oos, rule),
        "int8_student": oos_scores(logits["valid"], logits["test"], labels["valid"], labels["test"], oos, rule),
    }
    side_by_side = json.loads((run.work / "report" / "side_by_side.json").read_text())
    bundle_manifest = json.loads((bundle / "bundle.json").read_text())
    result = {
        "run": run.config.name,
        "config": str(args.config),
        "overrides": overrides,
        "bundle": str(bundle),
        "bundle_oos_threshold": bundle_manifest["oos_threshold"],
        "student": bundle_manifest["metrics"]["student"],
        "side_by_side": side_by_side,
        "tradeoff": {"teacher": teacher, "int8_student": student},
        "oos_scores": scores,
    }
    path = write_result(
        args.name or f"distill_{run.config.name}", result, ["torch", "transformers", "onnxruntime", "optimum"]
    )
    print(path)


if __name__ == "__main__":
    main()
