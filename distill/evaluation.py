"""`distill run`'s last stage: teacher, fp32 student and INT8 student side by side on the test
split, each with its own temperature and out-of-scope threshold fitted on validation by the
run's rule, so every column is decided the way its model would be deployed.

The two students are measured through the device runtime (`distill.bundle_eval`, tokenisation
included); the teacher in PyTorch at one thread (tokenisation excluded), from the logits the
run cached. The speed-up is teacher ms / INT8 ms, measured in the same process.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import numpy as np

from distill.bundle_eval import evaluate_examples, macro_f1, oos_scores
from distill.data.records import OOS_LABEL, Example
from distill.metrics import choose_oos_threshold, decide_intents, fit_temperature, softmax, top1_calibration_error
from edge.nlu.oos import PROBABILITY

log = logging.getLogger(__name__)


def logit_metrics(
    valid_logits: np.ndarray,
    valid_labels: np.ndarray,
    logits: np.ndarray,
    gold: list[str],
    intents: list[str],
    rule: str,
    oos_score: str = PROBABILITY,
) -> dict[str, Any]:
    """The bundle_eval metrics from raw logits, calibrated on validation like a bundle."""
    oos_index = intents.index(OOS_LABEL)
    temperature = fit_temperature(valid_logits, valid_labels)
    threshold, _ = choose_oos_threshold(valid_logits, temperature, valid_labels, oos_index, rule, oos_score)
    probabilities = softmax(logits, temperature)
    decided = [intents[i] for i in decide_intents(logits, temperature, oos_index, threshold, oos_score)]
    correct = np.asarray([d == g for d, g in zip(decided, gold, strict=True)])
    in_scope = np.asarray([g != OOS_LABEL for g in gold])
    return {
        "items": len(gold),
        "accuracy": float(correct[in_scope].mean()) if in_scope.any() else None,
        "accuracy_all": float(correct.mean()),
        "macro_f1": macro_f1(gold, decided),
        **oos_scores(gold, decided, OOS_LABEL),
        "slot_f1": None,
        "ece": top1_calibration_error(probabilities.max(-1), correct),
        "temperature": temperature,
        "oos_score": oos_score,
        "oos_threshold": threshold,
        "predicted": decided,
    }


def side_by_side(run, examples: list[Example], data, intents: list[str], split: str) -> dict[str, Any]:
    rule = run.config.threshold_rule
    index = {name: i for i, name in enumerate(intents)}
    valid_labels = np.asarray([index[u.intent] for u in data["valid"]])
    gold = [e.intent for e in examples]
    teacher = logit_metrics(
        run.teacher_arrays("valid")["logits"],
        valid_labels,
        run.teacher_arrays(split)["logits"],
        gold,
        intents,
        rule,
        run.config.oos_score,
    )
    texts = [e.text for e in examples[:200]]
    teacher["ms_per_query_mean"], teacher["size_mb"] = run.teacher_costs(texts, intents)
    fp32 = evaluate_examples(run.work / "fp32-bundle", examples, keep_predictions=True)
    int8 = evaluate_examples(run.config.out, examples, keep_predictions=True)
    columns = {
        f"teacher ({run.teacher_name()}, fp32, PyTorch)": teacher,
        "student fp32 (ONNX)": fp32,
        "student INT8 (bundle)": int8,
    }
    summary = {
        "dataset": run.config.dataset,
        "split": split,
        "threshold_rule": rule,
        "speedup_teacher_over_int8": teacher["ms_per_query_mean"] / int8["ms_per_query_mean"],
        "int8_minus_teacher_accuracy": int8["accuracy"] - teacher["accuracy"]
        if teacher["accuracy"] is not None
        else None,
        "int8_minus_teacher_oos_recall": (
            int8["oos_recall"] - teacher["oos_recall"] if teacher.get("oos_recall") is not None else None
        ),
        "columns": {name: {k: v for k, v in m.items() if k != "predicted"} for name, m in columns.items()},
    }
    report_dir = run.work / "report"
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "side_by_side.json").write_text(json.dumps(summary, indent=2) + "\n")
    try:
        from distill.report import ModelColumn, write_report
    except ImportError:
        log.warning("distill.report is missing: only %s was written", report_dir / "side_by_side.json")
    else:
        notes = [
            f"speed-up teacher/INT8 at one thread: {summary['speedup_teacher_over_int8']:.1f}x",
            "teacher: PyTorch, tokenisation excluded; students: onnxruntime through the device runtime, tokenisation included",
        ]
        write_report(
            report_dir,
            f"{run.config.name}: {run.config.dataset} {split}",
            [
                ModelColumn(
                    name,
                    {k: v for k, v in m.items() if k != "predicted" and not isinstance(v, (list, dict, str))},
                    gold,
                    m["predicted"],
                )
                for name, m in columns.items()
            ],
            notes,
        )
    log.info("report: %s", report_dir)
    return summary
