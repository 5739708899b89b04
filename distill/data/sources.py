"""One entry point for every data source: `load_dataset(name_or_path, data_dir)`.

    clinc150 | hwu64 | snips | banking77      public sets under the data folder
    path/to/context.yaml                      a Rhino context, expanded (see distill.data.rhino)
    path/to/file.csv | .jsonl                 plain labelled files (see distill.data.tabular)

Files without their own splits get a seeded validation and test sample (10% each, per intent,
never fewer than one example left in train).
"""

from __future__ import annotations

import random
from collections import defaultdict
from pathlib import Path

from distill.data.public import LOADERS, Splits
from distill.data.records import DataFormatError, Example

HELD_OUT_FRACTION = 0.1


def dataset_names() -> list[str]:
    return sorted(LOADERS)


def load_dataset(name: str, data_dir: Path, per_expression: int = 20, seed: int = 13) -> Splits:
    if name in LOADERS:
        return LOADERS[name](data_dir)
    path = Path(name)
    if path.suffix.lower() in {".yaml", ".yml"}:
        return rhino_splits(path, per_expression, seed)
    if path.suffix.lower() in {".csv", ".jsonl", ".json"}:
        from distill.data.tabular import load_table

        return split_examples(load_table(path), seed)
    raise DataFormatError(
        f"unknown dataset {name!r}: use one of {', '.join(dataset_names())}, a Rhino context .yaml, or a .csv/.jsonl file"
    )


def rhino_splits(path: Path, per_expression: int = 20, seed: int = 13) -> Splits:
    """train: `per_expression` seeded realisations per expression; valid and test: other seeds, a
    quarter as many each, minus any sentence already in train (the test split is what
    `distill rhino` checks exactly)."""
    from distill.data.rhino import expand_context, read_context

    context = read_context(path)
    train = expand_context(context, per_expression, seed)
    seen = {e.text for e in train}
    splits: Splits = {"train": train}
    for offset, split in ((1, "valid"), (2, "test")):
        sample = [e for e in expand_context(context, max(1, per_expression // 4), seed + offset) if e.text not in seen]
        seen |= {e.text for e in sample}
        splits[split] = sample
    return splits


def split_examples(examples: list[Example], seed: int = 13) -> Splits:
    """A seeded per-intent split: 10% valid, 10% test, the rest train."""
    by_intent: dict[str, list[int]] = defaultdict(list)
    for index, example in enumerate(examples):
        by_intent[example.intent].append(index)
    rng = random.Random(seed)
    assignment: dict[int, str] = {}
    for indices in by_intent.values():
        shuffled = rng.sample(indices, len(indices))
        n = int(HELD_OUT_FRACTION * len(shuffled))
        for position, index in enumerate(shuffled):
            assignment[index] = "valid" if position < n else "test" if position < 2 * n else "train"
    return {
        split: [e for i, e in enumerate(examples) if assignment[i] == split] for split in ("train", "valid", "test")
    }
