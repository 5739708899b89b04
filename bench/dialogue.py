"""How safe the skills' sentence matching is, and what the dialogue layer costs per turn.

    python -m bench.dialogue [--data ../shared/data]

1. Precision of the declared-sentence path: every HWU64 test utterance and every CLINC150
   out-of-scope test utterance goes through the `SentenceMatcher` of the built-in skills. A
   match overrides the intent model, so a match whose intent differs from the gold label is a
   wrong override (intents the skills added, such as `reminder_set`, have no HWU64 label: their
   matches are listed by gold label for inspection instead of scored).
2. Latency: loading the skills, sentence matching per utterance, and a whole scripted hotel
   conversation through intent model + dialogue + skills (p50/p95 of each turn).

Writes bench/results/dialogue.json.
"""

from __future__ import annotations

import argparse
import collections
import csv
import json
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bench.provenance import write_result
from edge.core.settings import NluSettings, Settings, SkillSettings
from edge.core.text.normalize import normalize_utterance
from edge.dialogue import DialogueManager
from edge.nlu.runtime import IntentModel
from edge.skills.loader import load_skills
from edge.skills.matcher import SentenceMatcher

PACKAGES = ("edge-voice", "onnxruntime", "tokenizers", "pyyaml")
NOW = datetime(2026, 11, 25, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
HOTEL = ["book a hotel near beijing west station", "friday", "about 200 yuan", "no, make it saturday", "yes"]


def default_data_dir() -> Path:
    return Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def utterances(data_dir: Path) -> list[tuple[str, str]]:
    with (data_dir / "hwu64" / "split_dialoglue" / "test.tsv").open(encoding="utf-8", newline="") as handle:
        rows = [(row["text"], row["label"]) for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)]
    clinc = json.loads((data_dir / "clinc150" / "data_full.json").read_text(encoding="utf-8"))
    return rows + [(text, "out_of_scope") for text, _ in clinc["oos_test"]]


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"p50": round(statistics.median(ordered), 3), "p95": round(ordered[int(0.95 * (len(ordered) - 1))], 3),
            "n": len(ordered)}


def matcher_precision(matcher: SentenceMatcher, rows: list[tuple[str, str]], known: set[str]) -> dict:
    scored = {"matched": 0, "right": 0, "wrong": 0}
    wrong, new_intents, timings = collections.Counter(), collections.Counter(), []
    for text, gold in rows:
        start = time.perf_counter()
        found = matcher.match(normalize_utterance(text), NOW)
        timings.append((time.perf_counter() - start) * 1000)
        if found is None:
            continue
        scored["matched"] += 1
        if found.intent not in known:
            new_intents[f"{found.intent} <- {gold}"] += 1
        elif found.intent == gold:
            scored["right"] += 1
        else:
            scored["wrong"] += 1
            wrong[f"{found.intent} <- {gold}: {text}"] += 1
    judged = scored["right"] + scored["wrong"]
    return {
        "utterances": len(rows), **scored,
        "precision_on_known_intents": round(scored["right"] / judged, 4) if judged else None,
        "coverage": round(scored["matched"] / len(rows), 4),
        "wrong_overrides": sorted(wrong), "matches_of_skill_only_intents": dict(new_intents.most_common()),
        "match_ms": percentiles(timings),
    }


def conversation_latency(model: IntentModel, settings: Settings, rounds: int) -> dict:
    per_turn: dict[int, list[float]] = collections.defaultdict(list)
    for _ in range(rounds):
        loaded = load_skills(settings, clock=lambda: NOW)
        dialogue = DialogueManager(settings.dialogue, loaded.registry, loaded.context.memory, lambda: NOW)
        for index, line in enumerate(HOTEL):
            start = time.perf_counter()
            dialogue.respond(dialogue.interpret(model.predict(line), line))
            per_turn[index].append((time.perf_counter() - start) * 1000)
        loaded.close()
    return {line: percentiles(per_turn[index]) for index, line in enumerate(HOTEL)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=default_data_dir())
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    model = IntentModel.load(NluSettings())
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(skills=SkillSettings(database_path=f"{folder}/edge.sqlite3", entry_points=False))
        start = time.perf_counter()
        loaded = load_skills(settings, clock=lambda: NOW)
        load_ms = (time.perf_counter() - start) * 1000
        matcher = SentenceMatcher(loaded.registry.skills)
        precision = matcher_precision(matcher, utterances(args.data), set(model.labels.intents))
        templates = len(matcher)
        loaded.close()
        latency = conversation_latency(model, settings, args.rounds)
    result = {"load_skills_ms": round(load_ms, 1), "templates": templates, "sentence_matching": precision,
              "hotel_conversation_turn_ms": latency}
    path = write_result("dialogue", result, PACKAGES)
    print(json.dumps({key: value for key, value in result.items() if key != "sentence_matching"}, indent=2))
    print(json.dumps({key: value for key, value in precision.items() if key != "matches_of_skill_only_intents"}, indent=2))
    print(f"written {path}")


if __name__ == "__main__":
    main()
