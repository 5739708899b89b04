"""How many turns the router keeps on the device, and how often it routes them right.

    python -m bench.routing [--data ../shared/data] [--bundle DIR]

Data: the HWU64 test split (DialoGLUE) plus CLINC150's `oos_test` (out of scope). The gold
route of an utterance is `escalate` when it is out of scope or its intent needs world knowledge
(`router.escalate_intents`: qa_factoid, news_query, recommendation_*…), else `local`. The intent
model runs directly on the text (no ASR). The confidence threshold is chosen on the validation
data (HWU64 valid + CLINC150 oos_val, by balanced accuracy: the mean of the share of commands kept
local and the share of hard queries escalated) and reported on test, next to the current settings
and a sweep. Writes bench/results/routing.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import time
from pathlib import Path

from bench.provenance import write_result
from edge.events import IntentResult
from edge.nlu.runtime import IntentModel
from edge.router import Router
from edge.settings import NluSettings, RouterSettings

PACKAGES = ("edge-voice", "onnxruntime", "tokenizers", "numpy")
SWEEP = tuple(round(0.05 * step, 2) for step in range(20))  # 0.00 … 0.95


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
    settings = RouterSettings() if threshold is None else RouterSettings(min_confidence=threshold)
    return Router(settings, bundle_threshold, oos_label, oos_score)


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
    on_valid = {t: score(valid, valid_predictions, router_at(t, manifest.oos_threshold, manifest.oos_label, manifest.oos_score), manifest.oos_label)
                for t in SWEEP}
    # Validation holds 100 out-of-scope utterances to 1076 commands, test 1000 to 1076: choose by
    # balanced accuracy, which does not depend on that mix.
    chosen = max(SWEEP, key=lambda t: (on_valid[t]["balanced_accuracy"], -t))
    defaults = RouterSettings()
    default_router = Router(defaults, manifest.oos_threshold, manifest.oos_label, manifest.oos_score)
    result = {
        "data": {"test": "hwu64/split_dialoglue/test.tsv + clinc150/data_full.json oos_test",
                 "threshold_chosen_on": "hwu64/split_dialoglue/valid.tsv + clinc150/data_full.json oos_val",
                 "test_turns": len(test), "valid_turns": len(valid)},
        "bundle": {"dir": str(model.bundle_dir), "created": manifest.created, "oos_threshold": manifest.oos_threshold,
                   "temperature": manifest.temperature},
        "escalate_intents": defaults.escalate_intents,
        "intent_model_ms_per_query": round(per_query_ms, 2),
        "default_settings_on_test": {"threshold": default_router.threshold, "source": default_router.threshold_source,
                                     **score(test, test_predictions, default_router, manifest.oos_label)},
        "bundle_threshold_on_test": {"threshold": manifest.oos_threshold, **score(test, test_predictions,
                                     router_at(-1.0, manifest.oos_threshold, manifest.oos_label, manifest.oos_score), manifest.oos_label)},
        "chosen_on_valid": {"threshold": chosen, **score(test, test_predictions,
                            router_at(chosen, manifest.oos_threshold, manifest.oos_label, manifest.oos_score), manifest.oos_label)},
        "sweep_on_test": {str(t): score(test, test_predictions, router_at(t, manifest.oos_threshold, manifest.oos_label, manifest.oos_score),
                                        manifest.oos_label) for t in SWEEP},
        "sweep_on_valid_balanced_accuracy": {str(t): on_valid[t]["balanced_accuracy"] for t in SWEEP},
    }
    path = write_result("routing", result, PACKAGES)
    print(f"wrote {path}")
    for name in ("default_settings_on_test", "bundle_threshold_on_test", "chosen_on_valid"):
        row = result[name]
        print(f"{name}: threshold {row['threshold']:.2f}: kept local {row['kept_local_share']:.1%}, "
              f"routing accuracy {row['routing_accuracy']:.1%}, balanced {row['balanced_accuracy']:.1%} (local recall {row['local_recall']:.1%}, "
              f"escalate recall {row['escalate_recall']:.1%})")


if __name__ == "__main__":
    main()
