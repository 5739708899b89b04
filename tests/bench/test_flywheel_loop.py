"""bench.flywheel_loop's plumbing on a few real requests: held-back texts replayed through the text turn
fill a fresh flywheel, which is labelled, exported and screened; nothing replayed is in HWU64 or in the
untouched judging sample. (Training and promotion are the benchmark's own run: minutes, not seconds.)"""

from __future__ import annotations

import json

import pytest

from bench.flywheel_loop import main, split_gain
from bench.flywheel_replay import hwu64_texts, replay_pools
from distill.data.records import default_data_dir

DATA = default_data_dir()


@pytest.fixture(scope="module")
def data_dir():
    if not (DATA / "slurp_text" / "devel.jsonl").is_file() or not (DATA / "hwu64").is_dir():
        pytest.skip(f"SLURP text or HWU64 not under {DATA}; set EDGE_DATA_DIR to the shared data folder")
    return DATA


def test_the_pools_hold_nothing_from_hwu64_and_do_not_overlap(data_dir) -> None:
    pools = replay_pools(data_dir, {"alarm_set", "weather_query", "play_music", "qa_factoid"})
    hwu64 = hwu64_texts(data_dir)
    replayed = {e.text for e in pools.replay}
    assert pools.replay and pools.kind
    assert not replayed & hwu64 and not {e.text for e in pools.kind} & (hwu64 | replayed)
    assert len(replayed) == len(pools.replay)
    assert pools.dropped["devel: in HWU64"] > 0


def test_a_short_replay_fills_labels_exports_and_screens_the_flywheel(data_dir, tmp_path) -> None:
    out = tmp_path / "result.json"
    work = tmp_path / "work"
    argv = ["--replay-limit", "20", "--teacher", "gold", "--skip-train", "--work", str(work), "--out", str(out)]
    assert main(argv) == 0
    result = json.loads(out.read_text())
    replay, labels = result["replay"], result["labels"]
    assert result["pools"]["replay"] == 20 and replay["turns"] == 20
    assert replay["corrections_logged"] == labels["logged"]["correction"] <= replay["corrections_said"] <= replay["wrong"]
    assert labels["teacher"] == "gold-stand-in" and labels["teacher_agrees_with_gold"]["share"] == 1.0
    assert labels["teacher_labelled"] == labels["logged"]["escalated"] + labels["logged"]["low-confidence"] > 0
    rows = [json.loads(line) for line in (work / "flywheel.kept.jsonl").read_text().splitlines()]
    assert len(rows) == labels["training_items"] > 0
    assert {row["source"] for row in rows} <= {"gold-stand-in", "correction"}
    assert all("score" in row for row in rows if row["kind"] == "correction")  # screened for --extra


def test_the_gain_splits_into_the_recipe_and_the_flywheel() -> None:
    assert split_gain(0.80, 0.78, 0.84) == {"gain": 0.04, "from_recipe": -0.02, "from_flywheel": 0.06,
                                            "flywheel_fraction": 1.5}
    assert split_gain(0.80, 0.81, 0.79)["flywheel_fraction"] is None  # no gain to split
    assert split_gain(None, 0.8, 0.8) == {}
