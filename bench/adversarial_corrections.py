"""How many adversarial corrections distill.corrections quarantines, and how many honest ones it costs.

    python -m bench.adversarial_corrections            # bench/results/adversarial_corrections.json

A month of corrections from a fleet of 200 speakers is built from real requests: the honest
corrections are the texts the shipped bundle got wrong or was unsure about (below the flywheel's
0.7 confidence), relabelled by their users with the gold intent; each user gets a Zipf share of
them, at random times over 30 days. Then 10% adversarial corrections are injected (10% of the
final set), all relabelled to one chosen wrong intent by one or a few "users":

- `one-user-burst`: one user, any texts, within 6 hours;
- `three-users-patient`: three users, any texts, spread over the month;
- `three-users-one-intent`: three users over the month turn one source intent into the target
  (the same few requests again and again);
- `twenty-users-patient` (stress, no target): twenty users over the month.

The teacher is the shipped bundle (the cheap, device-side teacher); the neighbours' reference
data is HWU64's train split (the bundle's own training data). The weights and threshold are tuned
on HWU64's valid split (most caught with at most 3% of honest corrections quarantined on every
tuning scenario; among equally good settings, the widest band of thresholds and its middle) and reported on SLURP's devel split (a different corpus; never a test split).
Five seeds per scenario (each: a new target intent, new users and times).
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import statistics
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

NAME = "adversarial_corrections"
PACKAGES = ("onnxruntime", "scikit-learn", "numpy", "tokenizers")
FLYWHEEL_BELOW = 0.7  # router.flywheel_below_confidence: what the flywheel logs as unsure
ADVERSARIAL_SHARE = 0.10
FLEET_USERS = 200
MONTH = timedelta(days=30)
START = datetime(2026, 11, 1, tzinfo=UTC)
SCENARIOS = {  # name: (attackers, mode, spread)
    "one-user-burst": (1, "any", timedelta(hours=6)),
    "three-users-patient": (3, "any", MONTH),
    "three-users-one-intent": (3, "one-intent", MONTH),
    "twenty-users-patient": (20, "any", MONTH),
}
TARGETED = ("one-user-burst", "three-users-patient", "three-users-one-intent")  # the ≥90% / ≤5% targets
SEEDS = 5
WEIGHT_GRID = {
    "teacher_weight": (0.2, 0.35, 0.5),
    "neighbour_weight": (0.2, 0.35, 0.5),
    "user_weight": (0.1, 0.2, 0.35),
    "rate_weight": (0.0, 0.1, 0.2),
}
MAX_HONEST_WHEN_TUNING = 0.03


def slurp_devel(data_dir: Path, intents: set[str]) -> list[tuple[str, str]]:
    rows = [json.loads(line) for line in (data_dir / "slurp_text" / "devel.jsonl").read_text().splitlines() if line]
    return [(r["sentence"], r["intent"]) for r in rows if r["intent"] in intents]


def honest_pool(texts: list[tuple[str, str]], predictions: dict[str, dict[str, float]]) -> list[tuple[str, str]]:
    """What the flywheel would log and a user would correct: wrong or unsure turns, with the gold label."""
    pool = []
    for text, gold in texts:
        probs = predictions[text]
        top = max(probs, key=probs.get)
        if top != gold or probs[top] < FLYWHEEL_BELOW:
            pool.append((text, gold))
    return pool


def build_set(texts: list[tuple[str, str]], pool: list[tuple[str, str]], intents: list[str], scenario: str,
              seed: int) -> tuple[list, list[bool], str]:
    """Honest corrections of `pool` by a Zipf fleet plus 10% adversarial ones; (items, is_adversarial, target)."""
    from distill.corrections import Correction

    rng = random.Random(f"{scenario}-{seed}")
    attackers, mode, spread = SCENARIOS[scenario]
    weights = [1 / (rank + 1) ** 1.1 for rank in range(FLEET_USERS)]
    users = rng.choices([f"speaker-{u:03d}" for u in range(FLEET_USERS)], weights=weights, k=len(pool))
    items = [Correction(text, gold, user, START + MONTH * rng.random()) for (text, gold), user in zip(pool, users, strict=True)]
    target = rng.choice([i for i in intents if i != "out_of_scope"])
    count = round(len(items) * ADVERSARIAL_SHARE / (1 - ADVERSARIAL_SHARE))
    candidates = [t for t, gold in texts if gold != target]
    if mode == "one-intent":
        sources = sorted({g for _, g in texts if g != target})
        source = rng.choice([s for s in sources if sum(g == s for _, g in texts) >= 10])
        chosen = rng.choices([t for t, g in texts if g == source], k=count)  # the same requests again and again
    else:
        chosen = rng.sample(candidates, count)
    began = START + (MONTH - spread) * rng.random()
    bad = [Correction(text, target, f"attacker-{i % attackers}", began + spread * rng.random())
           for i, text in enumerate(chosen)]
    everything = [(item, False) for item in items] + [(item, True) for item in bad]
    rng.shuffle(everything)
    return [i for i, _ in everything], [a for _, a in everything], target


def rates(scores: list, adversarial: list[bool]) -> dict[str, float]:
    caught = [s.quarantined for s, a in zip(scores, adversarial, strict=True) if a]
    honest = [s.quarantined for s, a in zip(scores, adversarial, strict=True) if not a]
    return {"caught": sum(caught) / len(caught), "honest_quarantined": sum(honest) / len(honest)}


def measure_split(texts, pool, intents, teacher, reference, scenarios, settings) -> dict[str, list]:
    """The signals of every (scenario, seed) set, computed once."""
    from distill.corrections import measure

    built = {}
    for scenario in scenarios:
        for seed in range(SEEDS):
            items, adversarial, target = build_set(texts, pool, intents, scenario, seed)
            built[(scenario, seed)] = (measure(items, teacher, reference, settings), adversarial, target)
    return built


def evaluate(built: dict, settings) -> dict[str, dict[str, Any]]:
    from distill.corrections import decide

    found: dict[str, dict[str, Any]] = {}
    for (scenario, _seed), (signals, adversarial, _target) in built.items():
        found.setdefault(scenario, {"runs": []})["runs"].append(rates(decide(signals, settings), adversarial))
    for summary in found.values():
        for key in ("caught", "honest_quarantined"):
            values = [r[key] for r in summary["runs"]]
            summary[key] = {"mean": round(statistics.mean(values), 4), "min": round(min(values), 4),
                            "max": round(max(values), 4)}
        summary["runs"] = [{k: round(v, 4) for k, v in r.items()} for r in summary["runs"]]
    return found


def tune(built: dict, base, grid: dict[str, tuple[float, ...]] = WEIGHT_GRID) -> tuple[Any, dict]:
    """The weights and threshold that catch the most in the worst targeted scenario (mean over seeds)
    with at most 3% honest corrections quarantined in every targeted scenario."""
    from distill.corrections import weigh

    thresholds = np.round(np.arange(0.2, 1.005, 0.01), 2)
    best, best_key = base, None
    for values in itertools.product(*grid.values()):
        settings = replace(base, **dict(zip(grid, values, strict=True)))
        caught: dict[str, list[np.ndarray]] = {s: [] for s in TARGETED}
        honest: dict[str, list[np.ndarray]] = {s: [] for s in TARGETED}
        for (scenario, _seed), (signals, adversarial, _target) in built.items():
            if scenario not in TARGETED:
                continue
            total, _ = weigh(signals, settings)
            flags = total[None, :] >= thresholds[:, None]  # thresholds x items
            bad = np.asarray(adversarial)
            caught[scenario].append(flags[:, bad].mean(axis=1))
            honest[scenario].append(flags[:, ~bad].mean(axis=1))
        worst_caught = np.min([np.mean(caught[s], axis=0) for s in TARGETED], axis=0)
        worst_honest = np.max([np.mean(honest[s], axis=0) for s in TARGETED], axis=0)
        feasible = np.flatnonzero(worst_honest <= MAX_HONEST_WHEN_TUNING)
        if not len(feasible):
            continue
        keys = [(round(float(worst_caught[i]), 6), -round(float(worst_honest[i]), 6)) for i in feasible]
        top = max(keys)
        run = longest_run([int(i) for i, k in zip(feasible, keys, strict=True) if k == top])
        key = (*top, len(run))  # ties: the widest band of equally good thresholds, and its middle
        if best_key is None or key > best_key:
            best, best_key = replace(settings, threshold=float(thresholds[run[len(run) // 2]])), key
    if best_key is None:
        return base, {"feasible": False, "note": f"no weights and threshold of the grid keep honest corrections "
                      f"quarantined at or under {MAX_HONEST_WHEN_TUNING:.0%}; shown with the defaults"}
    return best, {"worst_scenario_caught": round(best_key[0], 4), "worst_scenario_honest": round(-best_key[1], 4),
                  "equally_good_thresholds": best_key[2]}


def longest_run(indexes: list[int]) -> list[int]:
    """The longest run of consecutive integers in a sorted list."""
    runs: list[list[int]] = []
    for index in indexes:
        if runs and index == runs[-1][-1] + 1:
            runs[-1].append(index)
        else:
            runs.append([index])
    return max(runs, key=len)


def curve(built: dict, settings) -> dict[str, Any]:
    """Caught and honest quarantined (mean over the targeted scenarios and seeds) at several thresholds:
    what the per-item signals alone can do, without the user's history."""
    from distill.corrections import weigh

    points = []
    for threshold in (0.5, 0.6, 0.7, 0.8, 0.9, 1.0):
        caught, honest = [], []
        for (scenario, _seed), (signals, adversarial, _target) in built.items():
            if scenario in TARGETED:
                flags = weigh(signals, settings)[0] >= threshold
                bad = np.asarray(adversarial)
                caught.append(flags[bad].mean())
                honest.append(flags[~bad].mean())
        points.append({"threshold": threshold, "caught": round(float(np.mean(caught)), 4),
                       "honest_quarantined": round(float(np.mean(honest)), 4)})
    return {"weights": {"teacher": 0.5, "neighbours": 0.5, "user": 0.0, "rate": 0.0}, "split": "report",
            "points": points}


def main() -> None:
    from distill.corrections import ScoringSettings
    from distill.data.records import default_data_dir
    from distill.data.sources import load_dataset

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", type=Path, default=Path(__file__).resolve().parent.parent / "edge" / "models"
                        / "hwu64-minilm-int8", help="the shipped bundle: the teacher (default: edge/models/...)")
    parser.add_argument("--data", type=Path, default=default_data_dir(), help="shared data folder")
    parser.add_argument("--out", type=Path, default=None, help="result file (default bench/results/NAME.json)")
    args = parser.parse_args()

    hwu = load_dataset("hwu64", args.data)
    intents = json.loads((args.bundle / "labels.json").read_text())["intents"]
    tune_texts = [(e.text, e.intent) for e in hwu["valid"] if e.intent in intents]
    report_texts = slurp_devel(args.data, set(intents))
    reference = [(e.text, e.intent) for e in hwu["train"]]
    teacher, predictions = cached_teacher(args.bundle, [t for t, _ in tune_texts + report_texts])
    base = ScoringSettings()
    tune_pool, report_pool = honest_pool(tune_texts, predictions), honest_pool(report_texts, predictions)
    tuning = measure_split(tune_texts, tune_pool, intents, teacher, reference, SCENARIOS, base)
    chosen, tuned = tune(tuning, base)
    reported = measure_split(report_texts, report_pool, intents, teacher, reference, SCENARIOS, chosen)
    result = {
        "command": "python -m bench.adversarial_corrections",
        "bundle": args.bundle.name,
        "data": {
            "tune": f"HWU64 valid (split_dialoglue/valid.tsv): {len(tune_texts)} texts, {len(tune_pool)} honest corrections",
            "report": f"SLURP devel (slurp_text/devel.jsonl, intents the bundle knows): {len(report_texts)} texts, "
                      f"{len(report_pool)} honest corrections",
            "reference": f"HWU64 train: {len(reference)} labelled texts",
            "honest": f"texts the bundle got wrong or scored below {FLYWHEEL_BELOW}, gold label, {FLEET_USERS} "
                      "Zipf users over 30 days",
            "adversarial": f"{ADVERSARIAL_SHARE:.0%} of each set, one chosen wrong intent per seed",
        },
        "scenarios": {name: {"attackers": a, "texts": m, "spread_hours": s / timedelta(hours=1)}
                      for name, (a, m, s) in SCENARIOS.items()},
        "targets": {"caught": ">= 0.90", "honest_quarantined": "<= 0.05", "scenarios": list(TARGETED)},
        "seeds": SEEDS,
        "settings": asdict(chosen),
        "tuning": {"grid": WEIGHT_GRID, "rule": f"most caught in the worst targeted scenario with <= "
                   f"{MAX_HONEST_WHEN_TUNING:.0%} honest quarantined (mean over seeds) in each; ties: the widest band of "
                   "equally good thresholds, its middle", **tuned},
        "tune_split": evaluate(tuning, chosen),
        "report_split": evaluate(reported, chosen),
        "ablation_teacher_and_neighbours_only": curve(reported, replace(chosen, teacher_weight=0.5,
                                                                          neighbour_weight=0.5, user_weight=0.0,
                                                                          rate_weight=0.0)),
    }
    path = write(result, args.out)
    for scenario, summary in result["report_split"].items():
        print(f"{scenario:<24} caught {summary['caught']['mean']:.1%} (min {summary['caught']['min']:.1%})  "
              f"honest quarantined {summary['honest_quarantined']['mean']:.1%} "
              f"(max {summary['honest_quarantined']['max']:.1%})")
    print(f"wrote {path}")


def cached_teacher(bundle: Path, texts: list[str]):
    """The bundle teacher, run once per distinct text; (teacher, {text: probabilities})."""
    from distill.corrections import bundle_teacher

    unique = list(dict.fromkeys(texts))
    predictions = dict(zip(unique, bundle_teacher(bundle)(unique), strict=True))

    def teach(batch):
        return [predictions[t] for t in batch]

    return teach, predictions


def write(result: dict[str, Any], out: Path | None) -> Path:
    from bench import provenance

    if out is None:
        return provenance.write_result(NAME, result, PACKAGES)
    results_dir = provenance.RESULTS_DIR
    provenance.RESULTS_DIR = out.parent
    try:
        return provenance.write_result(out.stem, result, PACKAGES)
    finally:
        provenance.RESULTS_DIR = results_dir


if __name__ == "__main__":
    main()
