"""Plain labelled files: CSV with a `text,intent[,slots]` header, or JSONL with `text`, `intent`
and optional `slots` keys; also the data-flywheel export (`edge.escalation.flywheel.read_examples`).

Slots are `{"slot name": "value"}` (a JSON object; in CSV the `slots` cell holds that JSON). Each
value must occur in the normalised text; its first occurrence becomes the span.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from distill.data.records import DataFormatError, Example, SlotSpan, require_file
from edge.core.text.normalize import normalize_utterance


def load_table(path: Path) -> list[Example]:
    """Examples from a .csv or .jsonl/.json-lines file; errors name the file and line."""
    require_file(path)
    raw = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".csv":
        return _csv(path, raw)
    return _jsonl(path, raw)


def _csv(path: Path, raw: str) -> list[Example]:
    reader = csv.DictReader(io.StringIO(raw))
    if not reader.fieldnames or not {"text", "intent"} <= set(reader.fieldnames):
        raise DataFormatError(f"{path}:1: a CSV needs a header 'text,intent[,slots]', got {reader.fieldnames}")
    examples = []
    for row in reader:
        line = reader.line_num
        if None in row or any(row[name] is None for name in ("text", "intent")):
            raise DataFormatError(f"{path}:{line}: expected {len(reader.fieldnames)} columns; quote cells with commas")
        slots: Any = None
        if row.get("slots"):
            try:
                slots = json.loads(row["slots"])
            except json.JSONDecodeError as error:
                raise DataFormatError(f'{path}:{line}: slots must be a JSON object like {{"city": "paris"}}') from error
        examples.append(_example(path, line, row["text"], row["intent"], slots))
    return examples


def _jsonl(path: Path, raw: str) -> list[Example]:
    examples = []
    for line, text in enumerate(raw.splitlines(), start=1):
        if not text.strip():
            continue
        try:
            item = json.loads(text)
        except json.JSONDecodeError as error:
            raise DataFormatError(f"{path}:{line}: not valid JSON ({error.msg})") from error
        if not isinstance(item, dict) or "text" not in item or "intent" not in item:
            raise DataFormatError(f'{path}:{line}: expected {{"text": ..., "intent": ..., "slots": {{...}}}}')
        examples.append(_example(path, line, item["text"], item["intent"], item.get("slots")))
    return examples


def _example(path: Path, line: int, text: Any, intent: Any, slots: Any) -> Example:
    if not isinstance(text, str) or not isinstance(intent, str) or not intent.strip():
        raise DataFormatError(f"{path}:{line}: text and intent must be non-empty strings")
    normalised = normalize_utterance(text)
    if not normalised:
        raise DataFormatError(f"{path}:{line}: the text {text!r} is empty after normalisation")
    if slots is None:
        return Example(normalised, intent.strip())
    if not isinstance(slots, dict):
        raise DataFormatError(f'{path}:{line}: slots must be an object like {{"city": "paris"}}')
    spans = []
    for name, value in slots.items():
        span = _find(normalised, normalize_utterance(str(value)))
        if span is None:
            raise DataFormatError(f"{path}:{line}: slot {name}={value!r} does not occur in the text {normalised!r}")
        spans.append(SlotSpan(str(name), *span))
    return Example(normalised, intent.strip(), tuple(sorted(spans, key=lambda s: s.start)))


def _find(text: str, value: str) -> tuple[int, int] | None:
    """The first whole-word occurrence of `value` in `text` (offsets into `text`)."""
    index = f" {text} ".find(f" {value} ")
    return None if not value or index < 0 else (index, index + len(value))
