"""Malicious corrections: real HWU64 requests, a real flywheel export, the shipped bundle as the
teacher; one user who teaches a wrong intent is quarantined, the honest users are not."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from distill.cli import main
from distill.corrections import (
    Correction,
    ScoringSettings,
    _busiest_day,
    neighbour_signal,
    read_export,
    teacher_signal,
    user_signal,
)
from distill.data.records import DataFormatError, default_data_dir
from edge.escalation.flywheel import Flywheel

SHIPPED = Path(__file__).resolve().parents[2] / "edge" / "models" / "hwu64-minilm-int8"
HWU64 = default_data_dir() / "hwu64" / "split_dialoglue" / "valid.tsv"
TARGET = "play_radio"


def hwu64_valid() -> list[tuple[str, str]]:
    if not HWU64.is_file():
        pytest.skip(f"{HWU64} not found; set EDGE_DATA_DIR to the shared data folder")
    rows = [line.split("\t") for line in HWU64.read_text().splitlines()[1:] if line.strip()]
    return [(text, label) for text, label in rows]


@pytest.fixture
def export(tmp_path: Path) -> tuple[Path, set[str]]:
    """A flywheel export: one escalated turn, 72 honest corrections by 24 speakers and 8 corrections
    by one attacker relabelling other requests as play_radio; (export, the attacker's texts)."""
    rng = random.Random(7)
    texts = hwu64_valid()
    rng.shuffle(texts)
    flywheel = Flywheel(tmp_path / "flywheel.sqlite3")
    escalated = flywheel.record_turn("escalated", "who wrote hamlet", "qa_factoid", 0.4, "cloud", "unsure", "Shakespeare.")
    flywheel.set_label(escalated, "qa_factoid")
    honest = [t for t in texts if t[1] != TARGET][:72]
    for index, (text, gold) in enumerate(honest):
        flywheel.record_correction(text, "general_quirky", text, gold, user=f"speaker-{index % 24}")
    attack = [t for t, gold in texts[200:] if gold != TARGET and t not in dict(honest)][:8]
    for text in attack:
        flywheel.record_correction(text, "general_quirky", "play the radio", TARGET, user="room-404")
    path = tmp_path / "flywheel.jsonl"
    assert flywheel.export(path) == 81
    flywheel.close()
    return path, set(attack)


def test_the_attacker_is_quarantined_and_the_honest_users_are_kept(export, capsys) -> None:
    path, attack = export
    assert main(["corrections", str(path), "--bundle", str(SHIPPED), "--reference", "hwu64"]) == 0
    assert "80 corrections scored" in capsys.readouterr().out
    quarantined = [json.loads(line) for line in path.with_suffix(".quarantine.jsonl").read_text().splitlines()]
    kept = [json.loads(line) for line in path.with_suffix(".kept.jsonl").read_text().splitlines()]
    caught = [q for q in quarantined if q["text"] in attack]
    assert len(caught) == 8 and all(q["user"] == "room-404" and q["intent"] == TARGET for q in caught)
    assert len(quarantined) - len(caught) <= 2  # at most 2 of 72 honest corrections held back
    assert all(q["score"] >= ScoringSettings().threshold and "neighbours" in q["reason"] for q in quarantined)
    assert len(kept) + len(quarantined) == 81 and kept[0]["kind"] == "escalated"
    from distill.data.extra import warn_unscreened
    from distill.data.tabular import load_table

    assert len(load_table(path.with_suffix(".kept.jsonl"))) == len(kept)  # what `distill train --extra` reads
    assert all("score" in row for row in kept if row["kind"] == "correction")
    assert warn_unscreened(path) == 80 and warn_unscreened(path.with_suffix(".kept.jsonl")) == 0


def test_many_speakers_exports_are_merged_deduplicated_and_scored_together(export, tmp_path, capsys) -> None:
    path, attack = export
    rows = path.read_text().splitlines()
    honest = [r for r in rows if json.loads(r)["user"] != "room-404"]
    attacker = [r for r in rows if json.loads(r)["user"] == "room-404"]
    first, second = tmp_path / "room-101.jsonl", tmp_path / "room-102.jsonl"
    first.write_text("\n".join(honest[:40]) + "\n")
    second.write_text("\n".join([honest[0], honest[5], *honest[40:], *attacker]) + "\n")  # the escalated row twice
    assert main(["corrections", str(first), str(second), "--bundle", str(SHIPPED)]) == 2
    assert "name it with --out" in capsys.readouterr().err
    out = tmp_path / "line.kept.jsonl"
    assert main(["corrections", str(first), str(second), "--bundle", str(SHIPPED), "--reference", "hwu64",
                 "--out", str(out)]) == 0
    kept = [json.loads(line) for line in out.read_text().splitlines()]
    held = [json.loads(line) for line in (tmp_path / "line.quarantine.jsonl").read_text().splitlines()]
    assert sum(r["kind"] == "escalated" for r in kept) == 1  # the same escalated turn from two speakers: once
    assert len(kept) + len(held) == 82  # 81, plus honest[5]: the same correction by another speaker's user
    assert {r["user"] for r in held if r["text"] in attack} == {"room-102/room-404"} and len(held) >= 8
    assert any(r["user"] == "room-101/speaker-5" for r in kept + held)


def test_review_accepts_relabels_and_drops_with_a_report(export, monkeypatch, capsys) -> None:
    import io
    import sys

    path, attack = export
    answers = "a\nx\nr nonsense\nr alarm_set\nd\nq\n"  # a bad answer and an unknown intent are asked again
    monkeypatch.setattr(sys, "stdin", io.StringIO(answers))
    assert main(["review", str(path), "--bundle", str(SHIPPED), "--reference", "hwu64"]) == 0
    out = capsys.readouterr().out
    assert "QUARANTINED score" in out and "not an answer: 'x'" in out and "unknown intent 'nonsense'" in out
    reviewed = [json.loads(line) for line in path.with_suffix(".reviewed.jsonl").read_text().splitlines()]
    report = path.with_suffix(".review.html").read_text()
    quarantined = report.count('<tr class="q">')
    assert quarantined >= len(attack)
    # the first three quarantined: accepted, relabelled, dropped; after q the rest keep their default (drop)
    assert len(reviewed) == 81 - (quarantined - 2)
    relabelled = [r for r in reviewed if r["review"] == "relabel"]
    assert len(relabelled) == 1 and relabelled[0]["intent"] == "alarm_set"
    assert sum(r["review"] == "accept" for r in reviewed) == 81 - quarantined + 1
    assert f"81 items: {81 - quarantined + 1} accepted, 1 relabelled, {quarantined - 2} dropped" in report
    assert "reviewer" in report and "default" in report


def test_the_export_rows_carry_user_and_time(export) -> None:
    path, _ = export
    items = read_export(path)
    assert len(items) == 80 and {c.user for c in items} >= {"room-404", "speaker-0"}
    assert all(c.created is not None and c.created.tzinfo is not None for c in items)
    path.write_text('{"kind": "correction", "text": "x"}\n')
    with pytest.raises(DataFormatError, match="line 1: not a flywheel export item"):
        read_export(path)


def test_similar_texts_of_other_users_vote_and_the_users_own_do_not() -> None:
    day = datetime(2026, 11, 1, tzinfo=UTC)
    items = [
        Correction("turn the kitchen lights off", "iot_hue_lightoff", "a", day),
        Correction("turn the kitchen light off please", "iot_hue_lightoff", "b", day),
        Correction("turn off the kitchen lights", "iot_hue_lightoff", "d", day),
        Correction("turn kitchen lights off", "alarm_set", "c", day),
        Correction("turn the kitchen lights off now", "alarm_set", "c", day),  # c's own label: no vote for c
    ]
    values, notes = neighbour_signal(items, [], ScoringSettings())
    assert values[0] < 0.5 and values[3] > 0.9 and values[4] > 0.9  # c's two labels count once against a
    assert "3 similar labels, 0% agree (most: iot_hue_lightoff)" in notes[3]
    alone, notes = neighbour_signal([Correction("what's the capital of peru", "qa_factoid", "a", None)], [],
                                    ScoringSettings())
    assert alone.tolist() == [0.5] and notes == ["no similar labelled text"]


def test_teacher_user_and_rate_signals() -> None:
    probs = [{"alarm_set": 0.8, "alarm_query": 0.2}, {"alarm_set": 0.8, "alarm_query": 0.2}, {"alarm_set": 0.8}]
    assert teacher_signal(["alarm_set", "alarm_query", "play_radio"], probs).round(2).tolist() == [0.0, 0.5, 1.0]
    start = datetime(2026, 11, 1, tzinfo=UTC)
    assert _busiest_day([start + timedelta(hours=h) for h in (0, 1, 30, 31, 32)]) == 3
    items = [Correction(f"text {i}", "play_radio", "x", None) for i in range(6)]
    items += [Correction(f"text {i}", f"intent_{i}", f"u{i}", None) for i in range(6)]
    values = user_signal(items, np.full(len(items), 0.2), ScoringSettings())
    assert values[:6].min() > values[6:].max()  # six corrections to one label by one user
