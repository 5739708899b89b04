"""A finished `distill run`: the side-by-side report (teacher, fp32 and INT8 students) plus the
out-of-scope trade-off of the teacher and the INT8 student, in-scope accuracy and out-of-scope
recall on validation and test for a range of thresholds (each model with its own temperature
fitted on validation). A threshold must be chosen on validation; the test columns show what each
choice costs.

`oos_scores` compares the two out-of-scope scores a bundle can use (`oos_score`, edge/nlu/oos.py;
higher: more in scope): the calibrated top probability, and the logit margin (best in-scope
calibrated logit minus the out_of_scope one, which the softmax's normalisation does not blur).
For each, decided as the bundle would decide: the threshold the
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


def rates(decided: np.ndarray, labels: np.ndarray, oos: int) -> dict[str, float]:
    in_scope = labels != oos
    return {
        "in_scope_accuracy": round(float((decided == labels)[in_scope].mean()), 4),
        "oos_recall": round(float((decided == oos)[~in_scope].mean()), 4),
    }


def oos_scores(valid_logits, test_logits, valid_labels, test_labels, oos: int, rule: str) -> dict:
    """Per bundle `oos_score` (edge.nlu.oos), decided exactly as a bundle would: the threshold the
    rule picks on validation, and the result at 85% test out-of-scope recall."""
    from distill.metrics import choose_oos_threshold, decide_intents, fit_temperature
    from edge.nlu.oos import OOS_SCORES, in_scope_scores

    temperature = fit_temperature(valid_logits, valid_labels)
    result = {}
    for kind in OOS_SCORES:
        chosen, _ = choose_oos_threshold(valid_logits, temperature, valid_labels, oos, rule, kind)
        # a request whose top intent is out_of_scope is caught at any threshold
        test_score = np.where(
            test_logits.argmax(-1) == oos, -np.inf, in_scope_scores(test_logits, temperature, oos, kind)
        )
        at_recall = np.nextafter(float(np.quantile(test_score[test_labels == oos], TEST_RECALL)), np.inf)
        result[kind] = {
            "threshold_rule": rule,
            "temperature": round(temperature, 4),
            "validation_threshold": chosen,
            "test_at_validation_threshold": rates(
                decide_intents(test_logits, temperature, oos, chosen, kind), test_labels, oos
            ),
            f"test_at_{TEST_RECALL:.0%}_test_oos_recall": rates(
                decide_intents(test_logits, temperature, oos, at_recall, kind), test_labels, oos
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
