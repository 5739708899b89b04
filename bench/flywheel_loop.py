"""The data flywheel's whole loop on real data, measured: replay a month of use, label, retrain, promote.

    python -m bench.flywheel_loop                      # bench/results/flywheel_loop.json
    python -m bench.flywheel_loop --teacher gold       # the gold labels as the teacher's stand-in
    python -m bench.flywheel_loop --resume             # keep what --work already holds (replay, bundles)

1. Replay: held-back SLURP devel requests (none in HWU64) through the shipped bundle's text turn
   (bench.flywheel_replay), with a fresh flywheel in --work; users correct some wrong turns.
2. Label: the flywheel's unlabelled turns (escalated, unsure) get the teacher's label
   (bench.flywheel_teacher) when it is at least --teacher-min-confidence sure; the flywheel exports
   them (`edge data flywheel --export`'s code) and `distill corrections` screens the corrections.
3. Retrain, twice with one recipe: `distill train hwu64 --skills --oos` (the baseline) and the same
   with `--extra` the screened export (the after-model). The shipped bundle's 8-epoch distillation
   from a fine-tuned mpnet ensemble is out of reach on two cores, so the flywheel's effect is the
   difference between these two; the shipped bundle is the "before" the gates compare with.
4. Promote: `distill promote AFTER --deployed D --product P --dry-run` for both product lines, with
   D the shipped bundle and with D the baseline; the gates' verdicts are recorded.
5. Judge, on sets the loop never touched: HWU64 test (overall and each product line's intents, from
   the gates' records) and SLURP test minus HWU64 and the replay ("the flywheel's kind of request").
   The gain of the after-model over the shipped one splits into the recipe's part (baseline - shipped)
   and the flywheel's part (after - baseline).
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

from bench.flywheel_replay import OOS, Pools, replay, replay_pools, replay_settings, restatements
from bench.provenance import write_result

log = logging.getLogger("bench.flywheel_loop")
NAME = "flywheel_loop"
PACKAGES = ("onnxruntime", "torch", "transformers", "scikit-learn", "tokenizers", "numpy")
REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "edge" / "models" / "hwu64-minilm-int8"
PRODUCTS = ("hotel-room", "kitchen")
MARKER = ".flywheel-loop"
UNSURE = 0.7  # router.flywheel_below_confidence
SIMPLIFICATIONS = (
    "Turns run through edge.runtime.Turn.run_text (edge ask TEXT's path) loaded without a voice, as edge chat does.",
    "Each replayed request is its own session; a correcting user says 'no, I meant' + a HWU64 train sentence of "
    "the gold intent that the shipped bundle decides right with >= 0.9 confidence.",
    "Teacher: frozen all-mpnet-base-v2 + logistic regression (HWU64 train, skills, CLINC oos; 60 per intent) "
    "averaged with the shipped bundle; the fine-tuned mpnet teachers of configs/hwu64*.yaml are not on this machine.",
    "Students: distill train (plain fine-tuning, no distillation) for --epochs, baseline and after alike; the "
    "shipped bundle is an 8-epoch distillation from a 2-teacher ensemble, so after - baseline is the flywheel's part.",
)


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    from distill.data.records import default_data_dir

    parser = argparse.ArgumentParser(prog="python -m bench.flywheel_loop", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=default_data_dir())
    parser.add_argument("--work", type=Path, default=Path("/tmp/edge-flywheel-loop"), help="flywheel, exports, bundles")
    parser.add_argument("--resume", action="store_true", help="reuse the replay, labels and bundles already in --work")
    parser.add_argument("--replay-limit", type=int, help="replay only the first N held-back requests (smoke runs)")
    parser.add_argument("--correct-share", type=float, default=0.5, help="share of wrong turns a user corrects")
    parser.add_argument("--teacher", choices=("ensemble", "mpnet-probe", "gold"), default="ensemble",
                        help="ensemble: the mpnet probe and the shipped bundle averaged (bench.flywheel_teacher)")
    parser.add_argument("--teacher-per-intent", type=int, default=60, help="probe teacher: training items per intent")
    parser.add_argument("--teacher-min-confidence", type=float, default=0.5, help="drop teacher labels below this")
    parser.add_argument("--epochs", type=int, default=1,
                        help="every retrained student (the shipped one had 8; one epoch took ~15 min here)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--train-limit", type=int, help="distill train --limit (smoke runs)")
    parser.add_argument("--skip-train", action="store_true", help="stop after labelling (the plumbing test)")
    parser.add_argument("--attack", action="store_true",
                        help="also: 10%% adversarial corrections injected, screened, trained and compared")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--note", action="append", default=[], help="a sentence about this run, kept in the result")
    parser.add_argument("--out", type=Path, help="result file (default bench/results/flywheel_loop.json)")
    return parser.parse_args(argv)


def prepare_work(work: Path, resume: bool) -> None:
    if work.exists() and not resume:
        if any(work.iterdir()) and not (work / MARKER).is_file():
            raise SystemExit(f"{work} holds other files; give an empty or new --work folder")
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    (work / MARKER).write_text("made by python -m bench.flywheel_loop\n")


def shipped_copy(work: Path) -> Path:
    """The shipped bundle copied into `work` (promotion records go beside the deployed folder)."""
    copy = work / "shipped"
    if not copy.is_dir():
        shutil.copytree(SHIPPED, copy, ignore=shutil.ignore_patterns("promotion.json"))
    return copy


# --- 1. replay ----------------------------------------------------------------------------------


def run_replay(args: argparse.Namespace, pools: Pools, shipped: Path) -> dict[str, Any]:
    from distill.bundle_eval import load_model
    from distill.data.sources import load_dataset

    cached = args.work / "replay.json"
    if args.resume and cached.is_file():
        return json.loads(cached.read_text())
    started = time.perf_counter()
    restate = restatements(load_model(shipped), load_dataset("hwu64", args.data)["train"])
    stats = replay(pools.replay, replay_settings(args.work, shipped), restate, args.correct_share, args.seed)
    result = {**stats.to_json(), "seconds": round(time.perf_counter() - started, 1), "restatements": restate}
    cached.write_text(json.dumps(result, indent=2))
    return result


def gold_labels(pools: Pools, restate: dict[str, list[str]]) -> dict[str, str]:
    """text -> gold intent of every text the flywheel can hold: the replayed requests, and the
    restatements users corrected with (a correction's own turn is logged too when it escalates)."""
    gold = {text: intent for intent, texts in restate.items() for text in texts}
    return gold | {e.text: e.intent for e in pools.replay}


# --- 2. label and export --------------------------------------------------------------------------


def make_teachers(args: argparse.Namespace, gold: dict[str, str], shipped: Path) -> tuple[Any, list]:
    """The teacher that labels, and every teacher measured against the gold labels beside it."""
    from bench.flywheel_teacher import BundleTeacher, EnsembleTeacher, GoldTeacher, ProbeTeacher, teacher_examples

    if args.teacher == "gold":
        return GoldTeacher(gold), []
    probe = ProbeTeacher.fit(teacher_examples(args.data, args.teacher_per_intent, args.seed))
    bundle = BundleTeacher(shipped)
    ensemble = EnsembleTeacher([probe, bundle])
    return (ensemble if args.teacher == "ensemble" else probe), [probe, bundle, ensemble]


def label_and_export(args: argparse.Namespace, gold: dict[str, str], shipped: Path) -> dict[str, Any]:
    """Teacher labels on the unlabelled turns, the export, `distill corrections`; counts and agreement."""
    from edge.escalation.flywheel import Flywheel

    cached = args.work / "label.json"
    if args.resume and cached.is_file():
        return json.loads(cached.read_text())
    started = time.perf_counter()
    flywheel = Flywheel(args.work / "flywheel.sqlite3")
    try:
        logged = flywheel.examples()
        unlabelled = [e for e in logged if e.label is None and e.kind != "correction"]
        teacher, measured = make_teachers(args, gold, shipped)
        labels = teacher.label([e.text for e in unlabelled])
        compared = {m.name: agreement([(label, gold[e.text]) for e, (label, _) in
                                       zip(unlabelled, m.label([e.text for e in unlabelled]), strict=True)])
                    for m in measured}
        kept = 0
        for example, (intent, probability) in zip(unlabelled, labels, strict=True):
            if probability >= args.teacher_min_confidence:
                flywheel.set_label(example.id, intent, teacher.name)
                kept += 1
        exported = flywheel.export(args.work / "flywheel.jsonl")
    finally:
        flywheel.close()
    corrections = [e for e in logged if e.kind == "correction"]
    result = {
        "teacher": teacher.name,
        "logged": {kind: sum(e.kind == kind for e in logged) for kind in ("escalated", "low-confidence", "correction")},
        "teacher_labelled": len(unlabelled),
        "teacher_kept": kept,
        "teachers_compared_with_gold": compared,
        "teacher_agrees_with_gold": agreement([(label, gold[e.text]) for e, (label, _) in zip(unlabelled, labels, strict=True)]),
        "teacher_kept_agrees_with_gold": agreement([(label, gold[e.text]) for e, (label, p) in
                                                    zip(unlabelled, labels, strict=True) if p >= args.teacher_min_confidence]),
        "corrections_agree_with_gold": agreement([(e.label, gold[e.text]) for e in corrections if e.label]),
        "exported": exported,
        "screening": screen(args, args.work / "flywheel.jsonl"),
        "seconds": round(time.perf_counter() - started, 1),
    }
    kept_rows = [json.loads(line) for line in (args.work / "flywheel.kept.jsonl").read_text().splitlines() if line]
    result["training_items"] = len(kept_rows)
    result["training_items_agree_with_gold"] = agreement([(r["intent"], gold[r["text"]]) for r in kept_rows])
    cached.write_text(json.dumps(result, indent=2))
    return result


def agreement(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    return {"items": len(pairs), "share": round(sum(a == b for a, b in pairs) / len(pairs), 4) if pairs else None}


def screen(args: argparse.Namespace, export: Path) -> dict[str, Any]:
    """`distill corrections EXPORT`: EXPORT.kept.jsonl beside it, for `distill train --extra`."""
    command = [sys.executable, "-m", "distill", "corrections", str(export), "--bundle",
               str(SHIPPED), "--reference", "hwu64", "--data", str(args.data)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return {"command": display(command), "said": done.stdout.strip().splitlines()[-1]}


def display(command: list[str]) -> str:
    """The command as typed in the repository (no interpreter or machine paths)."""
    words = ["python" if word == sys.executable else word for word in command]
    return " ".join(word.replace(f"{REPO}/", "") for word in words)


# --- 3. retrain ----------------------------------------------------------------------------------


def train(args: argparse.Namespace, name: str, extra: Path | None) -> dict[str, Any]:
    out = args.work / name
    command = [sys.executable, "-m", "distill", "train", "hwu64", "--skills", "--oos", "--epochs", str(args.epochs),
               "--batch-size", str(args.batch_size), "--seed", str(args.seed), "--data", str(args.data), "--out", str(out)]
    command += ["--extra", str(extra)] if extra else []
    command += ["--limit", str(args.train_limit)] if args.train_limit else []
    started = time.perf_counter()
    reused = args.resume and (out / "bundle.json").is_file()
    if not reused:
        subprocess.run(command, check=True)
    manifest = json.loads((out / "bundle.json").read_text())
    return {"bundle": out, "command": display(command), "reused_from_work": reused,
            "seconds": None if reused else round(time.perf_counter() - started, 1),
            "training": {k: manifest["metrics"]["training"].get(k) for k in ("epochs", "seconds", "history")},
            "data": manifest["metrics"]["data"]}


# --- 4. promote ----------------------------------------------------------------------------------


def promote(args: argparse.Namespace, candidate: Path, deployed: Path, product: str) -> dict[str, Any]:
    command = [sys.executable, "-m", "distill", "promote", str(candidate), "--deployed", str(deployed), "--product",
               product, "--data", str(args.data), "--dry-run"]
    done = subprocess.run(command, capture_output=True, text=True)
    last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    if "; record " not in last:
        raise RuntimeError(f"distill promote gave no record (exit {done.returncode}): {done.stderr[-2000:]}")
    record = json.loads(Path(last.rsplit("; record ", 1)[1]).read_text())
    return {
        "command": display(command),
        "decision": record["decision"],
        "blocked_by": [f"{c['set']} {c['metric']}: candidate {shown(c['candidate'])} vs deployed {shown(c['deployed'])}"
                       for c in record["blocked_by"]],
        "sets": {name: {"items": s["items"], **{role: pick(s[role]) for role in ("deployed", "candidate")}}
                 for name, s in record["sets"].items()},
    }


def shown(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def pick(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: round(metrics[k], 4) for k in ("accuracy", "slot_f1", "oos_recall") if metrics.get(k) is not None}


# --- 5. judge ------------------------------------------------------------------------------------


def decisions(bundle: Path, texts: list[str]) -> list[tuple[str, float]]:
    from distill.bundle_eval import load_model

    model = load_model(bundle)
    results = [model.predict(text) for text in texts]
    return [(OOS if r.out_of_scope else r.intent, r.confidence) for r in results]


def product_intents(product: str) -> list[str]:
    data = tomllib.loads((REPO / "regression" / product / "product.toml").read_text())
    return next(s["intents"] for s in data["set"] if s.get("dataset") == "hwu64")


def kind_accuracy(pools: Pools, bundles: dict[str, Path]) -> dict[str, Any]:
    """Accuracy of each bundle on the untouched SLURP test sample: all, each product line's intents,
    and the items the shipped bundle would have logged (wrong or unsure): the flywheel's own kind."""
    gold = [e.intent for e in pools.kind]
    decided = {name: decisions(path, [e.text for e in pools.kind]) for name, path in bundles.items()}
    shipped = decided["shipped"]
    subsets = {"all": range(len(gold)),
               "shipped_wrong_or_unsure": [i for i, (d, c) in enumerate(shipped) if d != gold[i] or c < UNSURE]}
    for product in PRODUCTS:
        intents = set(product_intents(product))
        subsets[f"{product} intents"] = [i for i, g in enumerate(gold) if g in intents]
    table: dict[str, Any] = {}
    for subset, indexes in subsets.items():
        indexes = list(indexes)
        table[subset] = {"items": len(indexes), **{
            name: round(sum(decided[name][i][0] == gold[i] for i in indexes) / len(indexes), 4) if indexes else None
            for name in bundles}}
    return table


def split_gain(shipped: float | None, baseline: float | None, after: float | None) -> dict[str, Any]:
    """after - shipped = (baseline - shipped: the recipe) + (after - baseline: the flywheel items)."""
    if None in (shipped, baseline, after):
        return {}
    total, flywheel = after - shipped, after - baseline
    return {"gain": round(total, 4), "from_recipe": round(baseline - shipped, 4), "from_flywheel": round(flywheel, 4),
            "flywheel_fraction": round(flywheel / total, 3) if total > 0 else None}


def hwu64_table(gates: dict[str, Any]) -> dict[str, Any]:
    """Shipped, baseline and after on every gate set (from the dry-run records), with the gain split."""
    table: dict[str, Any] = {}
    for product in PRODUCTS:
        vs_shipped, vs_baseline = gates[product]["after_vs_shipped"], gates[product]["after_vs_baseline"]
        for name, measured in vs_shipped["sets"].items():
            row = table.setdefault(name, {"items": measured["items"]})
            for metric, value in measured["deployed"].items():
                base, after = vs_baseline["sets"][name]["deployed"].get(metric), measured["candidate"].get(metric)
                row[metric] = {"shipped": value, "baseline": base, "after": after, **split_gain(value, base, after)}
    return table


def run_attack(args: argparse.Namespace, pools: Pools, after: Path) -> dict[str, Any]:
    """The export with 10% adversarial corrections, screened and trained with the same recipe; every
    gate set's drop against the after-model trained without the attack (target: at most 0.5 point)."""
    from bench.flywheel_attack import attacked_rows

    honest = [json.loads(line) for line in (args.work / "flywheel.jsonl").read_text().splitlines() if line]
    rows, target = attacked_rows(honest, pools.replay, 0.10, args.seed)
    export = args.work / "attacked.jsonl"
    export.write_text("".join(json.dumps(row) + "\n" for row in rows))
    screening = screen(args, export)
    kept = [json.loads(line) for line in export.with_suffix(".kept.jsonl").read_text().splitlines() if line]
    attacked = train(args, "attacked", export.with_suffix(".kept.jsonl"))
    drops: dict[str, float] = {}
    for product in PRODUCTS:
        for name, measured in promote(args, attacked["bundle"], after, product)["sets"].items():
            for metric, value in measured["deployed"].items():
                drops[f"{name} {metric}"] = round(value - measured["candidate"].get(metric, 0.0), 4)
    return {"target": target, "injected": len(rows) - len(honest), "share": 0.10,
            "slipped_through_screening": sum((r.get("user") or "").startswith("attacker-") for r in kept),
            "screening": screening, "training": {k: v for k, v in attacked.items() if k != "bundle"},
            "drop_vs_after": drops, "worst_drop": max(drops.values()),
            "within_half_a_point": max(drops.values()) <= 0.005}


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("edge").setLevel(logging.WARNING)  # not one trace line per replayed turn
    args = arguments(argv)
    started = time.perf_counter()
    prepare_work(args.work, args.resume)
    shipped = shipped_copy(args.work)
    intents = set(json.loads((SHIPPED / "labels.json").read_text())["intents"]) - {OOS}
    pools = replay_pools(args.data, intents, args.replay_limit, args.seed)
    result: dict[str, Any] = {"pools": {"replay": len(pools.replay), "kind": len(pools.kind), "dropped": pools.dropped}}
    result["replay"] = run_replay(args, pools, shipped)
    gold = gold_labels(pools, result["replay"].pop("restatements"))
    log.info("replay: %s", result["replay"])
    result["labels"] = label_and_export(args, gold, shipped)
    log.info("labels: %s", result["labels"])
    if not args.skip_train:
        baseline = train(args, "baseline", None)
        after = train(args, "after", args.work / "flywheel.kept.jsonl")
        result["training"] = {name: {k: v for k, v in run.items() if k != "bundle"}
                              for name, run in (("baseline", baseline), ("after", after))}
        gates = {product: {"after_vs_shipped": promote(args, after["bundle"], shipped, product),
                           "after_vs_baseline": promote(args, after["bundle"], baseline["bundle"], product)}
                 for product in PRODUCTS}
        result["promotion"] = gates
        result["hwu64_and_gate_sets"] = hwu64_table(gates)
        kind = kind_accuracy(pools, {"shipped": shipped, "baseline": baseline["bundle"], "after": after["bundle"]})
        result["flywheel_kind_slurp_test"] = {name: {**row, **split_gain(row["shipped"], row["baseline"], row["after"])}
                                              for name, row in kind.items()}
        if args.attack:
            result["attack"] = run_attack(args, pools, after["bundle"])
    result["settings"] = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                          if k not in ("data", "work", "out", "note")}
    result["notes"] = [*SIMPLIFICATIONS, *args.note]
    result["wall_seconds"] = round(time.perf_counter() - started, 1)
    path = write_result(NAME, result, PACKAGES, args.out)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
