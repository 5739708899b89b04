"""How many turns the router keeps on the device, and how often it routes them right.

    python -m bench.routing [--data ../shared/data] [--bundle DIR]

Data: the HWU64 test split (DialoGLUE) plus CLINC150's `oos_test` (out of scope). The gold
route of an utterance is `escalate` when it is out of scope or its intent needs world knowledge
(`router.escalate_intents`: qa_factoid, news_query, recommendation_*…), else `local`. The intent
model runs directly on the text (no ASR). Rule 5 ("unsure: escalate") can compare either score
with a threshold: the logit margin (`router.min_margin`, the default) or the calibrated
confidence (`router.min_confidence`). For each, the threshold is chosen on the validation data
(HWU64 valid + CLINC150 oos_val, by balanced accuracy: the mean of the share of commands kept
local and the share of hard queries escalated) and reported on test, side by side in one run,
next to the current settings and both sweeps. Writes bench/results/routing.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import time
from pathlib import Path

from bench.provenance import write_result
from edge.core.events import IntentResult
from edge.core.settings import NluSettings, RouterSettings
from edge.escalation.router import Router
from edge.nlu.runtime import IntentModel

PACKAGES = ("edge-voice", "onnxruntime", "tokenizers", "numpy")
SWEEP = tuple(round(0.05 * step, 2) for step in range(20))  # 0.00 … 0.95 (confidence)
MARGIN_SWEEP = tuple(round(0.5 * step, 1) for step in range(17))  # 0.0 … 8.0 (calibrated logits)


def default_data_dir() -> Path:
    env = os.environ.get("EDGE_DATA_DIR")
    return Path(env) if env else Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def load_split(data_dir: Path, hwu_split: str, clinc_split: str) -> list[tuple[str, str]]:
    with (data_dir / "hwu64" / "split_dialoglue" / f"{hwu_split}.tsv").open(encoding="utf-8", newline="") as handle:
        rows = [(row["text"], row["label"]) for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)]
    clinc = json.loads((data_dir / "clinc150" / "data_full.json").read_text(encoding="utf-8"))
    return rows + [(text, "out_of_scope") for text, _ in clinc[clinc_split]]


def predict_all(model: IntentModel, rows: list[tuple[str, str]]) -> list[IntentResult]:
    return [model.predict(text) for text, _ in rows]


def score(rows, predictions, router: Router, oos_label: str) -> dict:
    counts = {"local_local": 0, "local_escalate": 0, "escalate_local": 0, "escalate_escalate": 0}  # gold_predicted
    for (_, label), predicted in zip(rows, predictions, strict=True):
        gold = "escalate" if label == oos_label or router.needs_world_knowledge(label) else "local"
        route = "escalate" if router.decide(predicted).escalate else "local"
        counts[f"{gold}_{route}"] += 1
    total = sum(counts.values())
    gold_local = counts["local_local"] + counts["local_escalate"]
    gold_escalate = counts["escalate_local"] + counts["escalate_escalate"]
    return {
        "turns": total,
        "kept_local_share": round((counts["local_local"] + counts["escalate_local"]) / total, 4),
        "routing_accuracy": round((counts["local_local"] + counts["escalate_escalate"]) / total, 4),
        "local_recall": round(counts["local_local"] / gold_local, 4),  # device commands kept on the device
        "escalate_recall": round(counts["escalate_escalate"] / gold_escalate, 4),  # hard queries sent on
        # the mean of the two recalls: does not depend on the share of hard queries in the data
        "balanced_accuracy": round((counts["local_local"] / gold_local + counts["escalate_escalate"] / gold_escalate) / 2, 4),
        "confusion_gold_predicted": counts,
    }


def router_at(threshold: float | None, bundle_threshold: float, oos_label: str, oos_score: str) -> Router:
    """The confidence rule at `threshold` (None: the default settings; negative: the bundle's)."""
    settings = RouterSettings() if threshold is None else RouterSettings(min_margin=-1.0, min_confidence=threshold)
    return Router(settings, bundle_threshold, oos_label, oos_score)


def margin_router_at(margin: float, bundle_threshold: float, oos_label: str, oos_score: str) -> Router:
    return Router(RouterSettings(min_margin=margin), bundle_threshold, oos_label, oos_score)


def chosen_and_sweep(make_router, thresholds, valid, valid_predictions, test, test_predictions, oos_label) -> dict:
    """The threshold with the best balanced accuracy on validation (ties: the lowest), on test."""
    on_valid = {t: score(valid, valid_predictions, make_router(t), oos_label) for t in thresholds}
    # Validation holds 100 out-of-scope utterances to 1076 commands, test 1000 to 1076: choose by
    # balanced accuracy, which does not depend on that mix.
    chosen = max(thresholds, key=lambda t: (on_valid[t]["balanced_accuracy"], -t))
    return {
        "chosen_on_valid": {"threshold": chosen, **score(test, test_predictions, make_router(chosen), oos_label)},
        "sweep_on_test": {str(t): score(test, test_predictions, make_router(t), oos_label) for t in thresholds},
        "sweep_on_valid_balanced_accuracy": {str(t): on_valid[t]["balanced_accuracy"] for t in thresholds},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=default_data_dir(), help="shared data folder")
    parser.add_argument("--bundle", default="", help="intent model bundle (default: the shipped one)")
    args = parser.parse_args()
    model = IntentModel.load(NluSettings(bundle_dir=args.bundle))
    manifest = model.manifest
    valid, test = load_split(args.data, "valid", "oos_val"), load_split(args.data, "test", "oos_test")
    started = time.perf_counter()
    valid_predictions, test_predictions = predict_all(model, valid), predict_all(model, test)
    per_query_ms = (time.perf_counter() - started) * 1000 / (len(valid) + len(test))
    bundle_args = (manifest.oos_threshold, manifest.oos_label, manifest.oos_score)
    splits = (valid, valid_predictions, test, test_predictions, manifest.oos_label)
    by_confidence = chosen_and_sweep(lambda t: router_at(t, *bundle_args), SWEEP, *splits)
    by_margin = chosen_and_sweep(lambda t: margin_router_at(t, *bundle_args), MARGIN_SWEEP, *splits)
    defaults = RouterSettings()
    default_router = Router(defaults, *bundle_args)
    result = {
        "data": {"test": "hwu64/split_dialoglue/test.tsv + clinc150/data_full.json oos_test",
                 "threshold_chosen_on": "hwu64/split_dialoglue/valid.tsv + clinc150/data_full.json oos_val",
                 "test_turns": len(test), "valid_turns": len(valid)},
        "bundle": {"dir": str(model.bundle_dir), "created": manifest.created, "oos_threshold": manifest.oos_threshold,
                   "oos_score": manifest.oos_score, "temperature": manifest.temperature},
        "escalate_intents": defaults.escalate_intents,
        "intent_model_ms_per_query": round(per_query_ms, 2),
        "default_settings_on_test": {"threshold": default_router.threshold, "source": default_router.threshold_source,
                                     **score(test, test_predictions, default_router, manifest.oos_label)},
        "bundle_threshold_on_test": {"threshold": manifest.oos_threshold,
                                     **score(test, test_predictions, router_at(-1.0, *bundle_args), manifest.oos_label)},
        "chosen_on_valid": by_confidence["chosen_on_valid"],
        "margin_chosen_on_valid": by_margin["chosen_on_valid"],
        "sweep_on_test": by_confidence["sweep_on_test"],
        "sweep_on_valid_balanced_accuracy": by_confidence["sweep_on_valid_balanced_accuracy"],
        "margin_sweep_on_test": by_margin["sweep_on_test"],
        "margin_sweep_on_valid_balanced_accuracy": by_margin["sweep_on_valid_balanced_accuracy"],
    }
    path = write_result("routing", result, PACKAGES)
    print(f"wrote {path}")
    for name in ("default_settings_on_test", "bundle_threshold_on_test", "chosen_on_valid", "margin_chosen_on_valid"):
        row = result[name]
        print(f"{name}: threshold {row['threshold']:.2f}: kept local {row['kept_local_share']:.1%}, "
              f"routing accuracy {row['routing_accuracy']:.1%}, balanced {row['balanced_accuracy']:.1%} (local recall {row['local_recall']:.1%}, "
              f"escalate recall {row['escalate_recall']:.1%})")


if __name__ == "__main__":
    main()
