"""The public datasets under the shared data folder: CLINC150, HWU64, SNIPS (joint BIO split),
Banking77. Each returns `{"train", "valid", "test"}` lists of `Example`, text normalised.

CLINC150's `oos` items are labelled `out_of_scope` and kept in every split (oos_train/oos_val/
oos_test appended to train/valid/test). Banking77 has no validation split: a seeded 10% of
train per intent is held out (documented in the data report).
"""

from __future__ import annotations

import csv
import json
import logging
import random
from collections import defaultdict
from pathlib import Path

from distill.data.records import OOS_LABEL, DataFormatError, Example, from_word_tags, require_file
from edge.core.text.normalize import normalize_utterance

log = logging.getLogger(__name__)
Splits = dict[str, list[Example]]
BANKING77_VALID_FRACTION = 0.1


def load_clinc150(data_dir: Path, file_name: str = "data_full.json") -> Splits:
    path = require_file(data_dir / "clinc150" / file_name)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise DataFormatError(f"{path}:{error.lineno}: not valid JSON ({error.msg})") from error
    splits: Splits = {}
    for split, source in (("train", "train"), ("valid", "val"), ("test", "test")):
        pairs = raw.get(source, []) + raw.get(f"oos_{source}", [])
        if not pairs:
            raise DataFormatError(f"{path}: no '{source}' split; expected the oos-eval data_full.json")
        splits[split] = [_clinc_example(text, intent) for text, intent in pairs]
    return splits


def load_clinc150_plus(data_dir: Path) -> Splits:
    """CLINC150 "oos+": the same validation and test sets, 250 out-of-scope training items, not 100."""
    return load_clinc150(data_dir, "data_oos_plus.json")


def _clinc_example(text: str, intent: str) -> Example:
    return Example(normalize_utterance(text), OOS_LABEL if intent == "oos" else intent)


def load_hwu64(data_dir: Path) -> Splits:
    """HWU64 DialoGLUE split with slot spans where annotated (no out-of-scope items)."""
    from distill.hwu64 import load_annotations
    from distill.hwu64 import load_hwu64 as load_split

    annotations = load_annotations(data_dir)
    return {
        split: [from_word_tags(u.text, u.intent, u.word_tags) for u in load_split(data_dir, split, annotations)]
        for split in ("train", "valid", "test")
    }


def load_snips(data_dir: Path) -> Splits:
    """`snips_joint/{train,valid,test}/{seq.in,seq.out,label}`: line-aligned words, BIO tags, intent."""
    return {split: _snips_split(data_dir / "snips_joint" / split) for split in ("train", "valid", "test")}


def _snips_split(folder: Path) -> list[Example]:
    words_path, tags_path, label_path = (require_file(folder / name) for name in ("seq.in", "seq.out", "label"))
    lines = [p.read_text(encoding="utf-8").splitlines() for p in (words_path, tags_path, label_path)]
    if len({len(column) for column in lines}) != 1:
        raise DataFormatError(f"{folder}: seq.in, seq.out and label must have the same number of lines")
    examples = []
    for number, (words, tags, label) in enumerate(zip(*lines, strict=True), start=1):
        words, tags = words.split(), tags.split()
        if len(words) != len(tags):
            raise DataFormatError(f"{tags_path}:{number}: {len(tags)} tags for {len(words)} words")
        examples.append(_normalised_bio(words, tags, label.strip()))
    return examples


def _normalised_bio(words: list[str], tags: list[str], intent: str) -> Example:
    """Normalise word by word so the tags stay on the right words (a word may become several)."""
    out_words: list[str] = []
    out_tags: list[str] = []
    for word, tag in zip(words, tags, strict=True):
        pieces = normalize_utterance(word).split()
        out_words += pieces
        if tag == "O" or not pieces:
            out_tags += ["O"] * len(pieces)
        else:
            out_tags += [tag] + [f"I-{tag[2:]}"] * (len(pieces) - 1)
    return from_word_tags(" ".join(out_words), intent, tuple(out_tags))


def load_banking77(data_dir: Path, seed: int = 13) -> Splits:
    train = _banking_csv(require_file(data_dir / "banking77" / "train.csv"))
    test = _banking_csv(require_file(data_dir / "banking77" / "test.csv"))
    by_intent: dict[str, list[int]] = defaultdict(list)
    for index, example in enumerate(train):
        by_intent[example.intent].append(index)
    rng = random.Random(seed)
    held_out: set[int] = set()
    for indices in by_intent.values():
        held_out |= set(rng.sample(indices, round(BANKING77_VALID_FRACTION * len(indices))))
    return {
        "train": [e for i, e in enumerate(train) if i not in held_out],
        "valid": [e for i, e in enumerate(train) if i in held_out],
        "test": test,
    }


def _banking_csv(path: Path) -> list[Example]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames != ["text", "category"]:
            raise DataFormatError(f"{path}:1: expected the header 'text,category', got {reader.fieldnames}")
        return [Example(normalize_utterance(row["text"]), row["category"]) for row in reader]


LOADERS = {
    "clinc150": load_clinc150,
    "clinc150_plus": load_clinc150_plus,
    "hwu64": load_hwu64,
    "snips": load_snips,
    "banking77": load_banking77,
}
