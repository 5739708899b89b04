"""`edge chat` and `edge skills list` as a user runs them: a scripted conversation on stdin."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.processes import STARTUP_SECONDS

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(tmp_path):
    environment = dict(os.environ, HOME=str(tmp_path), EDGE_SKILLS__DATABASE_PATH=str(tmp_path / "edge.sqlite3"),
                       EDGE_SKILLS__ENTRY_POINTS="false", PYTHONPATH=str(ROOT))
    return environment


def chat(env, lines, *args):
    return subprocess.run([sys.executable, "-m", "edge", "chat", *args], input="\n".join(lines) + "\n",
                          capture_output=True, text=True, timeout=STARTUP_SECONDS, env=env, cwd=ROOT)


def test_a_scripted_booking_with_a_correction_and_a_timer(env):
    result = chat(env, [
        "# comments and blank lines are skipped", "",
        "Book a hotel near Beijing West station", "tomorrow", "about 200 yuan", "no, make it the day after tomorrow",
        "yes", "set a timer for 2 seconds", "remind me to call mom", "cancel",
    ], "--wait-alerts", "10")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:3] == ["edge> Which night would you like to stay?", "edge> What's your budget per night?",
                         "edge> Jade Garden Hotel near Beijing West Station has a room tomorrow for 188 yuan. Shall I book it?"]
    assert re.fullmatch(r"edge> Okay, on \w+day\. Jade Garden Hotel near Beijing West Station has a room on \w+day for "
                        r"188 yuan\. Shall I book it\?", lines[3])
    assert re.fullmatch(r"edge> Booked Jade Garden Hotel for \w+day night, 188 yuan\. Your reference is H0001\.", lines[4])
    assert lines[5:] == ["edge> Timer set for 2 seconds.", "edge> When should I remind you?", "edge> Okay, cancelled.",
                         "edge> [timer] Your timer for 2 seconds is done."]


def test_json_traces_and_a_fact_across_two_runs(env):
    first = chat(env, ["remember my home city is Shanghai", "book a hotel in London"], "--json")
    traces = [json.loads(line) for line in first.stdout.splitlines()]
    assert [trace["reply"] for trace in traces] == ["Okay, I'll remember that your home city is Shanghai.",
                                                   "Which night would you like to stay?"]
    assert traces[1]["dialogue"] == {"action": "sentence", "intent": "hotel_book", "slots": {"place": "london"},
                                     "expects_follow_up": True, "follow_up_seconds": 8.0, "asked_slot": "date",
                                     "confirming": False}
    assert traces[1]["intent"] and {"nlu", "skill"} <= set(traces[1]["stages_ms"])  # the same stages as edge ask
    second = chat(env, ["what's my home city", "what is the weather like", "and tomorrow?"])
    assert second.stdout.splitlines() == [
        "edge> Your home city is Shanghai.",
        "edge> I have no weather data for Shanghai today: no weather service is set up on this speaker.",
        "edge> I have no weather data for Shanghai tomorrow: no weather service is set up on this speaker.",
    ]


def test_skills_list(env):
    result = subprocess.run([sys.executable, "-m", "edge", "skills", "list"], capture_output=True, text=True,
                            timeout=STARTUP_SECONDS, env=env, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "hotels       built-in" in result.stdout
    assert "    hotel_book               10 sentences" in result.stdout
    assert "home         built-in  (not set up)" in result.stdout
