"""The data report: counts per split and intent, slot coverage, and warnings (labels with too few
training examples, test sentences also in train, intents missing from a split)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from distill.data.public import Splits

MIN_EXAMPLES = 10  # training examples per intent below which a label is flagged


@dataclass
class DataReport:
    name: str
    counts: dict[str, int]  # split -> examples
    intents: dict[str, dict[str, int]]  # split -> intent -> examples
    slot_names: list[str]
    annotated: dict[str, int]  # split -> examples with slot annotation
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "dataset": self.name,
            "counts": self.counts,
            "intent_count": len(self.intents.get("train", {})),
            "annotated": self.annotated,
            "slot_names": self.slot_names,
            "warnings": self.warnings,
            "intents": self.intents,
        }

    def summary(self) -> str:
        lines = [f"{self.name}: " + ", ".join(f"{split} {n}" for split, n in self.counts.items())]
        lines.append(f"  intents: {len(self.intents.get('train', {}))}; slot names: {len(self.slot_names)}")
        lines.append("  annotated with slots: " + ", ".join(f"{s} {n}" for s, n in self.annotated.items()))
        lines += [f"  warning: {warning}" for warning in self.warnings]
        return "\n".join(lines)


def data_report(name: str, splits: Splits, min_examples: int = MIN_EXAMPLES) -> DataReport:
    intents = {split: dict(sorted(Counter(e.intent for e in items).items())) for split, items in splits.items()}
    slot_names = sorted({span.name for items in splits.values() for e in items for span in e.slots or ()})
    annotated = {split: sum(e.slots is not None for e in items) for split, items in splits.items()}
    report = DataReport(name, {s: len(items) for s, items in splits.items()}, intents, slot_names, annotated)
    train = intents.get("train", {})
    for intent, count in train.items():
        if count < min_examples:
            report.warnings.append(
                f"intent {intent!r} has {count} training examples (< {min_examples}); add examples or merge it"
            )
    for split in ("valid", "test"):
        missing = sorted(set(train) - set(intents.get(split, {})))
        if missing and split in splits:
            report.warnings.append(f"{len(missing)} intents have no {split} examples: {', '.join(missing[:10])}")
    train_texts = {e.text for e in splits.get("train", [])}
    overlap = sum(e.text in train_texts for e in splits.get("test", []))
    if overlap:
        report.warnings.append(f"{overlap} test sentences also occur in train; test scores will be optimistic")
    return report
