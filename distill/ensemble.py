"""A teacher made of several finished teachers (`teacher: {ensemble: [folder, ...]}` in a run
config): nothing is trained, the members' intent logits are averaged into the soft targets.

Two fine-tunes of the same encoder from different seeds disagree on the hard cases; averaging
them smooths that out. On HWU64 two mpnet teachers beat the first alone on validation (92.8% vs
92.0% in scope) but not on test (bench/results/distill_hwu64_ensemble.json). The mean of the
logits is the normalised geometric mean of the members' distributions.

Hidden-state matching needs one geometry, so the pooled layers come from the first member.
Importing this module imports torch; `distill.run` imports it lazily.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from distill.hwu64 import Utterance
from distill.teacher import (
    TeacherError,
    finished_teacher_record,
    load_teacher,
    teacher_ms_per_query,
    teacher_outputs,
)
from distill.train import encode

MANIFEST = "ensemble.json"


def compose_ensemble(members: list[str], intents: list[str], slot_tags: list[str], out: Path) -> dict:
    """Check that every member is a finished teacher of these labels; record them in `out`."""
    if len(members) < 2:
        raise TeacherError(f"an ensemble needs at least two teachers, got {len(members)}: {members}")
    records = [finished_teacher_record(Path(member), intents, slot_tags) for member in members]
    out.mkdir(parents=True, exist_ok=True)
    manifest = {
        "members": [str(Path(m).resolve()) for m in members],
        "models": [r["settings"].get("model", "mpnet") for r in records],
        "intents": intents,
        "slot_tags": slot_tags,
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return {"members": manifest["members"], "history": [r.get("history") for r in records]}


def members_of(out: Path) -> list[Path]:
    return [Path(m) for m in json.loads((out / MANIFEST).read_text())["members"]]


def load_members(out: Path) -> list[tuple[object, object]]:
    """(model, tokenizer) of every member, loaded once for all the splits."""
    return [load_teacher(member)[:2] for member in members_of(out)]


def ensemble_outputs(members, utterances: list[Utterance], intents: list[str], slot_tags: list[str]) -> dict:
    """`distill.teacher.teacher_outputs` for the ensemble (`load_members`): mean logits, first
    member's layers."""
    logits, pooled = [], None
    for model, tokenizer in members:
        outputs = teacher_outputs(model, encode(utterances, tokenizer, intents, slot_tags))
        logits.append(outputs["logits"])
        pooled = outputs["pooled"] if pooled is None else pooled
    return {"logits": np.mean(logits, axis=0), "pooled": pooled}


def ensemble_ms_per_query(out: Path, texts: list[str], threads: int = 1) -> float:
    """The members run one after another on the device's threads: their latencies add up."""
    total = 0.0
    for member in members_of(out):
        model, tokenizer, _ = load_teacher(member)
        total += teacher_ms_per_query(model, tokenizer, texts, threads)
        del model
    return total


def ensemble_size_mb(out: Path) -> float:
    return round(sum((m / "teacher.pt").stat().st_size for m in members_of(out)) / 1e6, 2)
