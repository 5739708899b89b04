"""`teacher: {ensemble: [...]}`: finished teachers averaged into one (distill.ensemble). Two tiny
teachers from the bundled MiniLM (seconds each) stand in for the mpnet ones."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = {
    "alarm_set": ["set an alarm for {}", "wake me up at {}"],
    "weather_query": ["will it rain at {}", "what is the weather at {}"],
}
HOURS = ["six", "seven", "eight", "nine", "ten", "noon"]


def csv_rows(hours: list[str]) -> list[str]:
    return [f"{t.format(h)},{intent}" for intent, ts in TEMPLATES.items() for t in ts for h in hours]


@pytest.fixture(scope="module")
def two_teachers(tmp_path_factory):
    """Two runs of the same data and encoder, different teacher seeds (the run's seed would also
    draw another train/valid split of the CSV), each stopped after its teacher."""
    from distill.baseline import base_model_dir

    base = tmp_path_factory.mktemp("ensemble")
    (base / "alarms.csv").write_text("text,intent\n" + "\n".join(csv_rows(HOURS)) + "\n")
    folders = []
    for seed in (13, 29):
        config = base / f"teacher{seed}.yaml"
        config.write_text(
            f"name: t{seed}\ndataset: alarms.csv\nout: bundle{seed}\nwork: run{seed}\nmax_length: 16\n"
            f"teacher: {{model: {base_model_dir()}, epochs: 1, batch_size: 4, seed: {seed}}}\n"
        )
        result = run_distill(base, "run", str(config), "--stop-after", "teacher_outputs")
        assert result.returncode == 0, result.stderr[-3000:]
        folders.append(base / f"run{seed}" / "teacher")
    return base, folders


def run_distill(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
    return subprocess.run(
        [sys.executable, "-m", "distill", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900
    )


def test_the_ensembles_soft_targets_are_the_mean_of_its_members_logits(two_teachers):
    import numpy as np

    base, (first, second) = two_teachers
    config = base / "ensemble.yaml"
    config.write_text(
        "name: ens\ndataset: alarms.csv\nout: bundle-ens\nwork: run-ens\nmax_length: 16\n"
        f"teacher: {{ensemble: [{first}, {second}]}}\n"
    )
    result = run_distill(base, "run", str(config), "--stop-after", "teacher_outputs")
    assert result.returncode == 0, result.stderr[-3000:]
    manifest = json.loads((base / "run-ens" / "teacher" / "ensemble.json").read_text())
    assert manifest["members"] == [str(first), str(second)]
    for split in ("train", "valid"):
        with (
            np.load(first / f"outputs_{split}.npz") as a,
            np.load(second / f"outputs_{split}.npz") as b,
            np.load(base / "run-ens" / "teacher" / f"outputs_{split}.npz") as ensemble,
        ):
            assert not np.allclose(a["logits"], b["logits"])  # two different teachers
            np.testing.assert_allclose(ensemble["logits"], (a["logits"] + b["logits"]) / 2, atol=1e-4)
            if split == "train":  # hidden-state matching follows the first member
                np.testing.assert_array_equal(ensemble["pooled"], a["pooled"])


def test_an_ensemble_costs_its_members_latency_and_size_together(two_teachers):
    from distill.ensemble import compose_ensemble, ensemble_ms_per_query, ensemble_size_mb

    base, members = two_teachers
    record = json.loads((members[0] / "teacher.json").read_text())
    out = base / "costs"
    compose_ensemble([str(m) for m in members], record["intents"], record["slot_tags"], out)
    single = (members[0] / "teacher.pt").stat().st_size / 1e6
    assert ensemble_size_mb(out) == pytest.approx(2 * single, rel=0.01)
    assert ensemble_ms_per_query(out, ["set an alarm for six"] * 8) > 0


def test_members_of_other_labels_or_unfinished_ones_are_refused(two_teachers, tmp_path):
    from distill.ensemble import compose_ensemble
    from distill.teacher import TeacherError

    _, members = two_teachers
    record = json.loads((members[0] / "teacher.json").read_text())
    with pytest.raises(TeacherError, match="other intents or slot tags"):
        compose_ensemble([str(m) for m in members], ["x", *record["intents"]], record["slot_tags"], tmp_path / "a")
    with pytest.raises(TeacherError, match="no finished teacher"):
        compose_ensemble([str(members[0]), str(tmp_path)], record["intents"], record["slot_tags"], tmp_path / "b")
    with pytest.raises(TeacherError, match="at least two"):
        compose_ensemble([str(members[0])], record["intents"], record["slot_tags"], tmp_path / "c")


def test_a_run_whose_data_the_members_do_not_fit_says_so_and_exits_2(two_teachers):
    base, (first, second) = two_teachers
    (base / "other.csv").write_text("text,intent\n" + "\n".join(f"play some {h} jazz,music_play" for h in HOURS * 2) + "\n"
                                    + "\n".join(csv_rows(HOURS)) + "\n")
    config = base / "mismatch.yaml"
    config.write_text(
        "name: mismatch\ndataset: other.csv\nout: bundle-mismatch\nwork: run-mismatch\nmax_length: 16\n"
        f"teacher: {{ensemble: [{first}, {second}]}}\n"
    )
    result = run_distill(base, "run", str(config))
    assert result.returncode == 2, result.stderr[-2000:]
    assert f"distill run: {first}: that teacher was trained on other intents or slot tags" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("teacher", "message"),
    [
        ("{ensemble: [/nope, /nope2]}", "teacher.ensemble: /nope holds no finished teacher"),
        ("{ensemble: [/nope]}", "expected a list of two or more teacher folders"),
        ("{ensemble: [/a, /b], init: /a}", "cannot go with init or domains"),
    ],
)
def test_a_bad_ensemble_is_refused_when_the_config_is_read(tmp_path, teacher, message):
    config = tmp_path / "bad.yaml"
    config.write_text(f"name: x\ndataset: hwu64\nout: {tmp_path / 'b'}\nwork: {tmp_path / 'w'}\nteacher: {teacher}\n")
    result = run_distill(tmp_path, "run", str(config))
    assert result.returncode == 2 and message in result.stderr, result.stderr[-500:]


def test_the_model_card_names_an_ensemble_teacher():
    from distill.card import distilled_card

    manifest = {
        "metrics": {
            "student": {"settings": {"epochs": 8}, "vocabulary": 30522, "parameters": 22.6e6},
            "teacher": {"model": "mpnet", "ensemble": ["runs/a/teacher", "runs/b/teacher"]},
            "data": {"train": 10, "valid": 2},
        },
        "quantization": {"format": "dynamic"},
        "base_model": "all-MiniLM-L6-v2",
        "device_profile": "generic",
        "temperature": 1.0,
        "oos_label": "out_of_scope",
        "oos_threshold": 0.3,
        "command": "distill run x.yaml",
    }
    assert "an ensemble of 2 fine-tuned `mpnet` teachers (their averaged logits)" in distilled_card(manifest)
    manifest["metrics"]["teacher"] = {"model": "mpnet", "ensemble": None}
    assert "from a fine-tuned `mpnet` teacher" in distilled_card(manifest)
