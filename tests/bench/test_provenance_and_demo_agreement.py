"""Benchmark results carry a command a clone can run, and the demo-agreement check compares real runs."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.devices.demo_agreement import compare, play_demo  # noqa: E402
from bench.provenance import command_line  # noqa: E402


def test_the_command_is_the_module_form_with_paths_relative_to_the_repository():
    assert command_line([str(ROOT / "bench" / "dialogue.py"), "--rounds", "5"]) == "python -m bench.dialogue --rounds 5"
    assert (command_line([str(ROOT / "bench" / "devices" / "agreement.py"), "--out", str(ROOT / "bench" / "results" / "a.json")])
            == "python -m bench.devices.agreement --out bench/results/a.json")
    assert command_line([str(ROOT / "bench" / "soak" / "__main__.py")]) == "python -m bench.soak"
    assert str(ROOT) not in command_line([str(ROOT / "edge" / "__main__.py"), "ask", "--wav", str(ROOT / "x.wav")])


def test_two_runs_of_the_demo_agree_and_a_different_reply_is_named():
    first = play_demo(with_tts=False)
    assert [turn["intent"] for turn in first["turns"]] == [turn["expected_intent"] for turn in first["turns"]]
    assert first["turns"][0]["reply"] == "It's 9:30 AM."  # the fixed clock, so two machines can agree
    report = compare(first, play_demo(with_tts=False))
    assert report["passes"] and report["agreeing_turns"] == len(first["turns"]) == 6
    other = copy.deepcopy(first)
    other["turns"][2]["reply"] = "2 to the power of 20 is 1048576."
    report = compare(first, other)
    assert not report["passes"] and report["agreeing_turns"] == 5
    assert [row["differs"] for row in report["rows"] if not row["agree"]] == [["reply"]]
