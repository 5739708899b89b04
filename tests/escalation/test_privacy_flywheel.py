"""Redaction, the privacy ledger and the training-data flywheel, on real SQLite files."""

import json
import sqlite3

import pytest

from edge.escalation.flywheel import Flywheel, FlywheelError, read_examples
from edge.escalation.ledger import PrivacyLedger
from edge.escalation.redaction import redact


@pytest.mark.parametrize(
    "text, expected, counts",
    [
        ("Text Anna Schmidt at anna@example.org or +49 170 1234567", "Text [name] at [email] or [phone]",
         {"email": 1, "phone": 1, "name": 1}),
        ("call Bob about the meeting on Monday", "call [name] about the meeting on Monday", {"name": 1}),
        ("my number is 555-123-4567", "my number is [phone]", {"phone": 1}),
        ("what is 2 to the power of 20 plus 1999", "what is 2 to the power of 20 plus 1999", {}),
        ("Plan a three day trip to Rome", "Plan a three day trip to Rome", {}),
    ],
)
def test_redaction(text, expected, counts):
    result = redact(text)
    assert (result.text, result.counts) == (expected, counts)


def test_ledger_records_what_left_where_and_why(tmp_path):
    ledger = PrivacyLedger(tmp_path / "privacy.sqlite3")
    sent = [{"role": "user", "content": "why is the sky blue"}]
    entry = ledger.record("http://llm/v1/chat/completions", "answer", "out-of-scope: ...", sent, {"name": 1})
    ledger.set_outcome(entry, "answered")
    ledger.close()
    (row,) = PrivacyLedger(tmp_path / "privacy.sqlite3").entries()
    assert (row.endpoint, row.purpose, row.reason, row.sent, row.redactions, row.outcome) == (
        "http://llm/v1/chat/completions", "answer", "out-of-scope: ...", sent, {"name": 1}, "answered",
    )


def test_flywheel_logs_turns_labels_and_exports_for_training(tmp_path):
    flywheel = Flywheel(tmp_path / "flywheel.sqlite3")
    escalated = flywheel.record_turn("escalated", "Why is the sky blue?", "qa_factoid", 0.91, "cloud", "world-knowledge: ...", "Rayleigh.")
    flywheel.set_label(escalated, "qa_factoid", "llm")
    flywheel.record_turn("low-confidence", "wake me at seven", "alarm_set", 0.55, "local", "confident: ...")
    flywheel.record_correction("play something", "music_query", "play music", "play_music")
    jsonl, csv_path = tmp_path / "out.jsonl", tmp_path / "out.csv"
    assert flywheel.export(jsonl) == 2 and flywheel.export(csv_path) == 2
    expected = [("Why is the sky blue?", "qa_factoid"), ("play something", "play_music")]
    assert read_examples(jsonl) == expected == read_examples(csv_path)
    assert csv_path.read_text().splitlines()[0] == "text,intent"
    first, correction = (json.loads(line) for line in jsonl.read_text().splitlines())
    assert {k: first[k] for k in ("text", "intent", "kind", "source", "user")} == {
        "text": "Why is the sky blue?", "intent": "qa_factoid", "kind": "escalated", "source": "llm", "user": None,
    }
    assert correction["kind"] == "correction" and correction["source"] == "correction" and correction["created"]
    with sqlite3.connect(tmp_path / "flywheel.sqlite3") as db:  # durable: another connection sees every row
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("SELECT COUNT(*) FROM examples").fetchone()[0] == 3


def test_a_correction_contradicting_many_others_is_flagged_not_exported(tmp_path):
    flywheel = Flywheel(tmp_path / "flywheel.sqlite3", contradiction_min=3)
    for _ in range(3):
        assert not flywheel.record_correction("Turn it up", "audio_volume_up", "turn up the volume", "audio_volume_up").flagged
    odd = flywheel.record_correction("turn it up!", "audio_volume_up", "turn up the lights", "iot_hue_lightup")
    assert odd.flagged and "contradicts 3 earlier labels" in odd.flag_reason
    flywheel.export(tmp_path / "out.jsonl")
    assert read_examples(tmp_path / "out.jsonl") == [("Turn it up", "audio_volume_up")]


def test_corrections_keep_who_made_them_and_an_old_log_gains_the_column(tmp_path):
    path = tmp_path / "flywheel.sqlite3"
    with sqlite3.connect(path) as db:  # a log written before corrections had users
        db.execute("CREATE TABLE examples (id INTEGER PRIMARY KEY, created TEXT NOT NULL, kind TEXT NOT NULL, "
                   "text TEXT NOT NULL, normalized TEXT NOT NULL, predicted_intent TEXT, confidence REAL, route TEXT, "
                   "reason TEXT, answer TEXT, label TEXT, label_source TEXT, flagged INTEGER NOT NULL DEFAULT 0, "
                   "flag_reason TEXT)")
        db.execute("INSERT INTO examples (created, kind, text, normalized, label, label_source) "
                   "VALUES ('2026-01-01T00:00:00', 'correction', 'lights', 'lights', 'iot_hue_lighton', 'correction')")
    flywheel = Flywheel(path)
    flywheel.record_correction("lights", "iot_hue_lightoff", "lights on", "iot_hue_lighton", user="room-12")
    flywheel.record_correction("lights", "iot_hue_lightoff", "lights on", "iot_hue_lighton", user="room-12")
    export = tmp_path / "out.jsonl"
    assert flywheel.export(export) == 2  # one per text, label and user
    rows = [json.loads(line) for line in export.read_text().splitlines()]
    assert [(r["user"], r["created"]) for r in rows] == [(None, "2026-01-01T00:00:00"), ("room-12", rows[1]["created"])]
    assert read_examples(export) == [("lights", "iot_hue_lighton")] * 2


def test_export_refuses_an_unknown_format(tmp_path):
    with pytest.raises(FlywheelError, match="use jsonl or csv"):
        Flywheel(tmp_path / "f.sqlite3").export(tmp_path / "x.txt", "xml")
