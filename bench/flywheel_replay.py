"""A month of use that fills the data flywheel: held-back requests replayed through the text turn.

    pools = replay_pools(data_dir, intents)               # SLURP devel to replay, SLURP test to judge
    restate = restatements(bundle, hwu64_train)           # how a user says each intent so the speaker gets it
    stats = replay(pools.replay, replay_settings(work), restate, correct_share=0.5, seed=13)

The requests are SLURP's (the audio-recorded successor of HWU64; the same scenario_action intent
names). HWU64 and SLURP share utterances, so every SLURP text that is also in HWU64 (any split, the
normalised text) is dropped: nothing replayed is in the students' training data or in the HWU64
test split the loop is judged on. SLURP devel is replayed; SLURP test (minus anything replayed) is
the untouched sample of "the flywheel's kind of request".

Each request is one turn of `edge.runtime.Turn.run_text` (what `edge ask TEXT` and `edge chat` run),
in its own session, with no cloud and no offline LLM: the flywheel logs what the runtime logs
(escalated turns and local turns under `router.flywheel_below_confidence`). A user whose turn went
wrong says, with probability `correct_share`, "no, I meant <a way of saying the intent the speaker
understands>" in the same session: the runtime's correction path logs it with the intent it gives
the restatement. Turns are loaded without a voice (as `edge chat`): the reply audio plays no part in
what the flywheel keeps.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from distill.data.records import Example
from edge.core.text.normalize import normalize_utterance

log = logging.getLogger(__name__)
OOS = "out_of_scope"


@dataclass(frozen=True)
class Pools:
    replay: list[Example]  # SLURP devel, not in HWU64: the month of use
    kind: list[Example]  # SLURP test, not in HWU64 nor replayed: the flywheel's kind of request, untouched
    dropped: dict[str, int]  # why texts were left out, per reason


def hwu64_texts(data_dir: Path) -> set[str]:
    """Normalised texts of every HWU64 utterance (the DialoGLUE splits and the annotated file)."""
    import csv

    texts = set()
    folder = data_dir / "hwu64"
    files = [folder / "split_dialoglue" / f"{split}.tsv" for split in ("train", "valid", "test")]
    for path in [*files, folder / "hwu64_annotated_10fold.tsv"]:
        with path.open(encoding="utf-8", newline="") as handle:
            texts |= {normalize_utterance(row["text"]) for row in csv.DictReader(handle, delimiter="\t",
                                                                                 quoting=csv.QUOTE_NONE)}
    return texts


def slurp(data_dir: Path, split: str) -> list[tuple[str, str]]:
    """(normalised sentence, intent) of SLURP's `devel` or `test` file."""
    lines = (data_dir / "slurp_text" / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()
    return [(normalize_utterance(row["sentence"]), row["intent"]) for row in map(json.loads, filter(None, lines))]


def _held_back(rows: list[tuple[str, str]], intents: set[str], excluded: set[str], dropped: Counter, split: str):
    kept: dict[str, Example] = {}
    for text, intent in rows:
        reason = ("intent not in the bundle" if intent not in intents else "in HWU64" if text in excluded
                  else "duplicate" if text in kept else None)
        if reason:
            dropped[f"{split}: {reason}"] += 1
        else:
            kept[text] = Example(text, intent)
    return list(kept.values())


def replay_pools(data_dir: Path, intents: set[str], limit: int | None = None, seed: int = 13) -> Pools:
    """SLURP devel to replay (shuffled, the first `limit`) and SLURP test to judge on, both without HWU64."""
    hwu64 = hwu64_texts(data_dir)
    dropped: Counter = Counter()
    replay = _held_back(slurp(data_dir, "devel"), intents, hwu64, dropped, "devel")
    random.Random(seed).shuffle(replay)
    replay = replay[:limit] if limit else replay
    kind = _held_back(slurp(data_dir, "test"), intents, hwu64 | {e.text for e in replay}, dropped, "test")
    return Pools(replay, kind, dict(sorted(dropped.items())))


def restatements(model, examples: list[Example], per_intent: int = 5, min_confidence: float = 0.9) -> dict[str, list[str]]:
    """intent -> up to `per_intent` training texts that `model` (edge.nlu IntentModel) decides as that
    intent with at least `min_confidence`: what a correcting user says after "no, I meant"."""
    found: dict[str, list[str]] = {}
    for example in examples:
        chosen = found.setdefault(example.intent, [])
        if len(chosen) >= per_intent:
            continue
        result = model.predict(example.text)
        if not result.out_of_scope and result.intent == example.intent and result.confidence >= min_confidence:
            chosen.append(example.text)
    return {intent: texts for intent, texts in found.items() if texts}


def replay_settings(work: Path, bundle: Path):
    """Default settings with every file in `work` (skills database, flywheel, privacy ledger), the
    given bundle, no cloud, no offline LLM server and no casting."""
    from edge.core.settings import Settings

    base = Settings()
    return dataclasses.replace(
        base,
        nlu=dataclasses.replace(base.nlu, bundle_dir=str(bundle)),
        skills=dataclasses.replace(base.skills, database_path=str(work / "skills.sqlite3"), entry_points=False),
        router=dataclasses.replace(base.router, flywheel_path=str(work / "flywheel.sqlite3"),
                                   ledger_path=str(work / "privacy.sqlite3"), flywheel_retention_days=0.0),
        llm=dataclasses.replace(base.llm, base_url=""),
        offline=dataclasses.replace(base.offline, start_server=False),
        cast=dataclasses.replace(base.cast, enabled=False),
    )


@dataclass
class ReplayStats:
    turns: int = 0
    wrong: int = 0  # the decided intent (out_of_scope when rejected) is not the gold one
    routes: Counter = field(default_factory=Counter)
    corrections_said: int = 0
    corrections_logged: int = 0  # the runtime took it as a correction (not a slot follow-up)

    def to_json(self) -> dict:
        return {"turns": self.turns, "wrong": self.wrong, "routes": dict(self.routes),
                "corrections_said": self.corrections_said, "corrections_logged": self.corrections_logged}


def replay(examples: list[Example], settings, restate: dict[str, list[str]], correct_share: float,
           seed: int = 13) -> ReplayStats:
    """Every example as one turn (its own session); wrong turns corrected with probability `correct_share`."""
    from edge.runtime.turn import Turn

    rng = random.Random(seed)
    stats = ReplayStats()
    with Turn.load(settings, with_asr=False, with_tts=False) as turn:
        for number, example in enumerate(examples):
            session = f"replay-{number:05d}"
            trace = turn.run_text(example.text, session).trace
            decided = OOS if trace.out_of_scope else trace.intent
            stats.turns += 1
            stats.routes[trace.route] += 1
            if decided == example.intent:
                continue
            stats.wrong += 1
            if rng.random() >= correct_share or not restate.get(example.intent):
                continue
            stats.corrections_said += 1
            said = turn.run_text(f"no, I meant {rng.choice(restate[example.intent])}", session).trace
            stats.corrections_logged += said.correction is not None
    return stats
