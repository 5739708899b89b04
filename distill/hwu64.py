"""HWU64 intents with word-level BIO slot tags, plus CLINC150 out-of-scope utterances.

Every utterance goes through `edge.core.text.normalize.normalize_utterance`, the normalisation the device
applies to every input. Slot annotations (`[date : this week]`) come from
`hwu64/hwu64_annotated_10fold.tsv` and are joined onto the DialoGLUE split by text; each
annotated segment is normalised on its own so that the tags stay on the right words.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from edge.core.text.normalize import normalize_utterance

log = logging.getLogger(__name__)

OOS_LABEL = "out_of_scope"
SPLITS = ("train", "valid", "test")
_SLOT = re.compile(r"\[\s*([^:\]]+?)\s*:\s*([^\]]*?)\s*\]")


class DataError(Exception):
    """A dataset file is missing or does not look like the expected format."""


@dataclass(frozen=True)
class Utterance:
    text: str  # normalised, words separated by single spaces
    intent: str
    word_tags: tuple[str, ...] | None = None  # BIO per word of `text`; None: no annotation


def default_data_dir(repo_root: Path) -> Path:
    """`$EDGE_DATA_DIR`, else `../shared/data` next to the repository."""
    env = os.environ.get("EDGE_DATA_DIR")
    return Path(env) if env else (repo_root.parent / "shared" / "data").resolve()


def parse_annotation(annotation: str) -> tuple[str, tuple[str, ...]]:
    """'wake me up at [time : five am]' -> ('wake me up at five am', (O, O, O, O, B-time, I-time))."""
    words: list[str] = []
    tags: list[str] = []
    position = 0
    for match in _SLOT.finditer(annotation):
        plain = normalize_utterance(annotation[position : match.start()]).split()
        words += plain
        tags += ["O"] * len(plain)
        slot_type = match.group(1).strip().replace(" ", "_")
        value = normalize_utterance(match.group(2)).split()
        words += value
        if value:
            tags += [f"B-{slot_type}"] + [f"I-{slot_type}"] * (len(value) - 1)
        position = match.end()
    rest = normalize_utterance(annotation[position:]).split()
    words += rest
    tags += ["O"] * len(rest)
    return " ".join(words), tuple(tags)


def _read_tsv(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        raise DataError(f"{path} is missing; point --data (or $EDGE_DATA_DIR) at the shared data")
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))


def load_annotations(data_dir: Path) -> dict[tuple[str, str], str]:
    """(lower-cased text, intent) -> inline slot annotation."""
    rows = _read_tsv(data_dir / "hwu64" / "hwu64_annotated_10fold.tsv")
    annotations: dict[tuple[str, str], str] = {}
    for row in rows:
        key = (" ".join(row["text"].lower().split()), f"{row['scenario']}_{row['intent']}")
        annotations.setdefault(key, row["answer_annotation"])
    return annotations


def load_hwu64(data_dir: Path, split: str, annotations: dict[tuple[str, str], str]) -> list[Utterance]:
    """One DialoGLUE split; utterances whose text has no annotation get `word_tags=None`."""
    rows = _read_tsv(data_dir / "hwu64" / "split_dialoglue" / f"{split}.tsv")
    utterances, unmatched, mismatched = [], 0, 0
    for row in rows:
        text, intent = normalize_utterance(row["text"]), row["label"]
        annotation = annotations.get((" ".join(row["text"].lower().split()), intent))
        if annotation is None:
            unmatched += 1
            utterances.append(Utterance(text, intent))
            continue
        annotated_text, tags = parse_annotation(annotation)
        if annotated_text != text:
            mismatched += 1  # normalising pieces differs from normalising the whole: trust the pieces
        utterances.append(Utterance(annotated_text, intent, tags))
    log.info(
        "hwu64 %s: %d utterances, %d without slot annotation, %d re-spaced by segment normalisation",
        split,
        len(utterances),
        unmatched,
        mismatched,
    )
    return utterances


def load_oos(data_dir: Path) -> dict[str, list[Utterance]]:
    """CLINC150 out-of-scope utterances as `out_of_scope`: train (from data_oos_plus.json when
    present: 250 instead of 100), valid and test. In-scope CLINC150 items are never used."""
    full = _read_clinc(data_dir / "clinc150" / "data_full.json")
    plus_path = data_dir / "clinc150" / "data_oos_plus.json"
    train = _read_clinc(plus_path)["oos_train"] if plus_path.is_file() else full["oos_train"]
    splits = {"train": train, "valid": full["oos_val"], "test": full["oos_test"]}
    held_out = {text for text, _ in splits["valid"] + splits["test"]}
    leaked = sum(text in held_out for text, _ in train)
    if leaked:
        raise DataError(f"{leaked} CLINC150 oos training texts also appear in oos_val/oos_test")
    return {
        split: [Utterance(normalize_utterance(text), OOS_LABEL) for text, _ in pairs] for split, pairs in splits.items()
    }


def _read_clinc(path: Path) -> dict[str, list[list[str]]]:
    if not path.is_file():
        raise DataError(f"{path} is missing; point --data (or $EDGE_DATA_DIR) at the shared data")
    return json.loads(path.read_text(encoding="utf-8"))


def load_all(data_dir: Path) -> dict[str, list[Utterance]]:
    """{"train", "valid", "test"} -> HWU64 + out-of-scope utterances, in file order."""
    annotations = load_annotations(data_dir)
    oos = load_oos(data_dir)
    return {split: load_hwu64(data_dir, split, annotations) + oos[split] for split in SPLITS}


def slot_tag_set(utterances: list[Utterance]) -> list[str]:
    """["O", "B-x", "I-x", ...] for every slot type seen, sorted by type."""
    types = sorted({tag[2:] for u in utterances if u.word_tags for tag in u.word_tags if tag != "O"})
    return ["O"] + [f"{prefix}-{name}" for name in types for prefix in ("B", "I")]
