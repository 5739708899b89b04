"""The data flywheel: turns the device was unsure about, kept as future training data.

One SQLite file (`router.flywheel_path`, WAL, synchronous writes). Three kinds of row:

- `escalated`: a turn that went to a large model, with its answer and, when the LLM was asked
  (`llm.label_intents`), the intent it gave (only labels the bundle knows are kept);
- `low-confidence`: a turn kept local below `router.flywheel_below_confidence` (no label);
- `correction`: the user said "no, I meant …": the earlier text, labelled with the intent of
  what they meant. A correction whose label contradicts at least `contradiction_min` earlier
  labels of the same text (and is outvoted by them) is flagged, not trusted.

`export(path)` writes the labelled, unflagged rows as JSONL (`{"text": ..., "intent": ..., "kind": ...,
"source": ..., "user": ..., "created": ...}`: who made a correction and when, for distill's
correction scoring) or CSV (`text,intent`); `read_examples(path)` reads either back (for `distill`).
"""

from __future__ import annotations

import csv
import json
import logging
import sqlite3
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from edge.core.errors import StorageError
from edge.core.storage import open_database
from edge.core.text.normalize import normalize_utterance

logger = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS examples (
    id INTEGER PRIMARY KEY,
    created TEXT NOT NULL,
    kind TEXT NOT NULL,              -- escalated | low-confidence | correction
    text TEXT NOT NULL,              -- what the user said
    normalized TEXT NOT NULL,        -- as the intent model saw it
    predicted_intent TEXT,
    confidence REAL,
    route TEXT,
    reason TEXT,
    answer TEXT,                     -- the LLM's answer, or the corrected request
    label TEXT,                      -- training label, NULL when unknown
    label_source TEXT,               -- llm | correction
    flagged INTEGER NOT NULL DEFAULT 0,
    flag_reason TEXT,
    user TEXT                        -- who made a correction (the session key), NULL when unknown
);
CREATE INDEX IF NOT EXISTS examples_normalized ON examples (normalized);
"""


class FlywheelError(StorageError):
    """The training log cannot be opened, written or exported."""


@dataclass(frozen=True)
class Example:
    id: int
    kind: str
    text: str
    predicted_intent: str | None
    confidence: float | None
    route: str | None
    answer: str | None
    label: str | None
    label_source: str | None
    flagged: bool
    flag_reason: str | None


class Flywheel:
    def __init__(self, path: Path, contradiction_min: int = 3, retention_days: float = 0.0) -> None:
        """`retention_days` > 0: turns older than that are deleted now (`router.flywheel_retention_days`)."""
        self.path = path
        self.contradiction_min = contradiction_min
        try:
            opened = open_database(path, "the training log", "set router.flywheel_path to a writable file",
                                   isolation_level=None, secure_delete=True)
            self._db = opened.connection
            self._db.executescript(_SCHEMA)
            if "user" not in {row[1] for row in self._db.execute("PRAGMA table_info(examples)")}:
                self._db.execute("ALTER TABLE examples ADD COLUMN user TEXT")  # a log from before corrections had users
        except (StorageError, sqlite3.Error) as error:
            raise FlywheelError(str(error)) from error
        self.recovered_from = opened.recovered_from  # a corrupt log was moved here; the runtime started anyway
        self._lock = threading.Lock()
        if retention_days > 0:
            self.purge(older_than_days=retention_days)

    def purge(self, older_than_days: float | None = None) -> int:
        """Delete logged turns (all of them, or those older than `older_than_days`); how many went."""
        if older_than_days is None:
            where, args = "1", ()
        else:
            cutoff = (datetime.now(UTC) - timedelta(days=older_than_days)).isoformat(timespec="milliseconds")
            where, args = "created < ?", (cutoff,)
        try:
            with self._lock:
                count = self._db.execute(f"DELETE FROM examples WHERE {where}", args).rowcount
        except sqlite3.Error as error:
            raise FlywheelError(f"cannot purge the training log {self.path}: {error}") from error
        if count:
            logger.info("purged %d turn(s) from the training log %s", count, self.path)
        return count

    def _insert(self, **values) -> int:
        values.setdefault("created", datetime.now(UTC).isoformat(timespec="milliseconds"))
        values["normalized"] = normalize_utterance(values["text"])
        names = ", ".join(values)
        try:
            with self._lock:
                cursor = self._db.execute(
                    f"INSERT INTO examples ({names}) VALUES ({', '.join('?' for _ in values)})", tuple(values.values())
                )
        except sqlite3.Error as error:
            raise FlywheelError(f"cannot write the training log {self.path}: {error}") from error
        return int(cursor.lastrowid)

    def record_turn(self, kind: str, text: str, intent: str, confidence: float, route: str, reason: str, answer: str = "") -> int:
        return self._insert(
            kind=kind, text=text, predicted_intent=intent, confidence=confidence, route=route, reason=reason, answer=answer or None
        )

    def set_label(self, example_id: int, label: str, source: str = "llm") -> None:
        with self._lock:
            self._db.execute("UPDATE examples SET label = ?, label_source = ? WHERE id = ?", (label, source, example_id))

    def record_correction(self, text: str, predicted_intent: str, corrected_text: str, label: str | None,
                          user: str | None = None) -> Example:
        """The user corrected the turn `text`: it should have been `label` (the intent of `corrected_text`);
        `user`: who (the session key), kept so that distill can weigh a user's corrections together."""
        flagged, flag_reason = False, None
        if label is not None:
            flagged, flag_reason = self._contradiction(normalize_utterance(text), label)
        example_id = self._insert(
            kind="correction", text=text, predicted_intent=predicted_intent, answer=corrected_text,
            label=label, label_source="correction" if label else None, flagged=int(flagged), flag_reason=flag_reason,
            user=user,
        )
        if flagged:
            logger.warning("correction of %r to %s flagged: %s", text, label, flag_reason)
        return self.get(example_id)

    def _contradiction(self, normalized: str, label: str) -> tuple[bool, str | None]:
        with self._lock:
            rows = self._db.execute(
                "SELECT label FROM examples WHERE normalized = ? AND label IS NOT NULL AND flagged = 0", (normalized,)
            ).fetchall()
        votes = Counter(row[0] for row in rows)
        if not votes:
            return False, None
        majority, majority_count = votes.most_common(1)[0]
        if majority != label and majority_count >= self.contradiction_min and votes[label] < majority_count:
            return True, f"contradicts {majority_count} earlier labels of this text ({majority})"
        return False, None

    def get(self, example_id: int) -> Example:
        return self.examples(where="id = ?", args=(example_id,))[0]

    def examples(self, where: str = "1", args: tuple = ()) -> list[Example]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, kind, text, predicted_intent, confidence, route, answer, label, label_source, flagged, flag_reason "
                f"FROM examples WHERE {where} ORDER BY id", args,
            ).fetchall()
        return [Example(*row[:9], bool(row[9]), row[10]) for row in rows]

    def export(self, path: Path, fmt: str = "") -> int:
        """Write labelled, unflagged examples as JSONL (one per text, label and user) or CSV (one per text
        and label); returns how many."""
        fmt = fmt or ("csv" if path.suffix.lower() == ".csv" else "jsonl")
        if fmt not in ("csv", "jsonl"):
            raise FlywheelError(f"unknown export format {fmt!r}; use jsonl or csv")
        with self._lock:
            rows = self._db.execute(
                "SELECT text, label, kind, label_source, user, created FROM examples "
                "WHERE label IS NOT NULL AND flagged = 0 ORDER BY id"
            ).fetchall()
        pairs = list(dict.fromkeys((text, label) for text, label, *_ in rows))
        items = list({(r[0], r[1], r[4]): r for r in reversed(rows)}.values())[::-1]  # the first of each
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("w", encoding="utf-8", newline="") as handle:
                if fmt == "csv":
                    writer = csv.writer(handle)
                    writer.writerow(["text", "intent"])
                    writer.writerows(pairs)
                else:
                    keys = ("text", "intent", "kind", "source", "user", "created")
                    handle.writelines(json.dumps(dict(zip(keys, row, strict=True)), ensure_ascii=False) + "\n"
                                      for row in items)
        except OSError as error:
            raise FlywheelError(f"cannot write {path}: {error.strerror}") from error
        return len(pairs) if fmt == "csv" else len(items)

    def close(self) -> None:
        with self._lock:
            self._db.close()


def read_examples(path: Path) -> list[tuple[str, str]]:
    """(text, intent) pairs from a flywheel export, JSONL or CSV with a `text,intent` header."""
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as error:
        raise FlywheelError(f"cannot read {path}: {error.strerror}") from error
    if path.suffix.lower() == ".csv":
        rows = list(csv.DictReader(raw.splitlines()))
        if rows and not {"text", "intent"} <= set(rows[0]):
            raise FlywheelError(f"{path}: a CSV export needs a 'text,intent' header")
        return [(row["text"], row["intent"]) for row in rows]
    pairs = []
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            pairs.append((str(item["text"]), str(item["intent"])))
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise FlywheelError(f"{path} line {number}: expected {{\"text\": ..., \"intent\": ...}}") from error
    return pairs
