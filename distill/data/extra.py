"""Extra training data added on top of a dataset: the installed skills' declared intents
(`edge.skills.examples.collect_skill_examples`) and labelled files such as the data-flywheel
export (`--extra FILE`, CSV or JSONL, see distill.data.tabular). Extras go to train only."""

from __future__ import annotations

import logging
from pathlib import Path

from distill.data.public import Splits
from distill.data.records import Example, SlotSpan

log = logging.getLogger(__name__)


def skill_examples(per_sentence: int = 20) -> list[Example]:
    """Every installed skill's intents as examples with slot spans; skills that fail to load are logged."""
    from edge.skills.examples import collect_skill_examples

    problems: list[str] = []
    examples = [
        Example(item.text, item.intent, tuple(SlotSpan(s.slot, s.start, s.end) for s in item.slots))
        for item in collect_skill_examples(per_sentence=per_sentence, problems=problems)
    ]
    for problem in problems:
        log.warning("skill examples: %s", problem)
    return examples


def add_to_train(splits: Splits, extra: list[Example], source: str) -> Splits:
    """`splits` with `extra` appended to train, minus sentences that are in valid or test."""
    held_out = {e.text for split in ("valid", "test") for e in splits.get(split, [])}
    kept = [e for e in extra if e.text not in held_out]
    if len(kept) < len(extra):
        log.warning("%s: dropped %d examples that are also in valid/test", source, len(extra) - len(kept))
    log.info("%s: %d extra training examples", source, len(kept))
    return {**splits, "train": splits["train"] + kept}


def with_extras(splits: Splits, files: list[Path], skills: bool, per_sentence: int = 20) -> Splits:
    from distill.data.tabular import load_table

    for path in files:
        warn_unscreened(path)
        splits = add_to_train(splits, load_table(path), str(path))
    if skills:
        splits = add_to_train(splits, skill_examples(per_sentence), "installed skills")
    return splits


def warn_unscreened(path: Path) -> int:
    """Log a warning when a flywheel JSONL export carries user corrections that neither `distill
    corrections` (a score) nor `distill review` (a review) has looked at; returns how many."""
    import json

    if path.suffix.lower() != ".jsonl":
        return 0
    count = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line) if line.strip() else {}
        if isinstance(row, dict) and row.get("kind") == "correction" and "score" not in row and "review" not in row:
            count += 1
    if count:
        log.warning("%s: %d user corrections not screened for malicious labels; run `distill corrections %s "
                    "--bundle BUNDLE` and train on its .kept.jsonl", path, count, path)
    return count
