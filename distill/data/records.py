"""The one record type every loader returns, and its conversions for the training chain."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

OOS_LABEL = "out_of_scope"  # the same label as distill.hwu64 and the shipped bundles


class DataFormatError(ValueError):
    """A data file is missing or malformed; the message names the file (and line) and the fix."""


@dataclass(frozen=True)
class SlotSpan:
    name: str  # slot name, e.g. "coffeeDrink"
    start: int  # character offsets into Example.text, end exclusive
    end: int


@dataclass(frozen=True)
class Example:
    text: str  # normalised (edge.core.text.normalize.normalize_utterance), words separated by single spaces
    intent: str
    slots: tuple[SlotSpan, ...] | None = None  # None: the source has no slot annotation

    def slot_values(self) -> dict[str, str]:
        """{slot name: value}, first occurrence wins (as edge.nlu.runtime.decode_slots)."""
        values: dict[str, str] = {}
        for span in self.slots or ():
            values.setdefault(span.name, self.text[span.start : span.end])
        return values

    def word_tags(self) -> tuple[str, ...] | None:
        """Word-level BIO tags of `text`, or None without annotation."""
        if self.slots is None:
            return None
        tags, position = [], 0
        for word in self.text.split(" "):
            start, position = position, position + len(word) + 1
            span = next((s for s in self.slots if s.start <= start < s.end), None)
            tags.append("O" if span is None else ("B-" if start == span.start else "I-") + span.name)
        return tuple(tags)

    def to_utterance(self):
        """The `distill.hwu64.Utterance` the existing training chain consumes."""
        from distill.hwu64 import Utterance

        return Utterance(self.text, self.intent, self.word_tags())


def from_word_tags(text: str, intent: str, word_tags: tuple[str, ...] | None) -> Example:
    """An Example from a space-separated text and word-level BIO tags."""
    from distill.metrics import gold_spans

    if word_tags is None:
        return Example(text, intent)
    return Example(text, intent, tuple(SlotSpan(name, start, end) for name, start, end in gold_spans(text, word_tags)))


def default_data_dir(repo_root: Path | None = None) -> Path:
    """`$EDGE_DATA_DIR`, else `../shared/data` next to the repository."""
    env = os.environ.get("EDGE_DATA_DIR")
    if env:
        return Path(env)
    root = repo_root or Path(__file__).resolve().parents[2]
    return (root.parent / "shared" / "data").resolve()


def require_file(path: Path) -> Path:
    if not path.is_file():
        raise DataFormatError(f"{path} is missing; point --data (or $EDGE_DATA_DIR) at the shared data folder")
    return path
