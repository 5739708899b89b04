"""`edge cast screens`, `edge cast pair` and `edge cast send` as a user runs them, against a real `edge cast companion`."""

import json
import os
import subprocess
import sys

from helpers.cast_helpers import LOOPBACK, ROOT, CompanionProcess, cast_deps, unique
from helpers.processes import STARTUP_SECONDS

cast_deps()


def edge(*args, stdin=""):
    command = [sys.executable, "-m", "edge", *args]
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(command, cwd=ROOT, env=environment, input=stdin, capture_output=True, text=True, timeout=STARTUP_SECONDS)


def test_list_pair_and_cast_from_the_command_line(tmp_path):
    name = unique("Den TV")
    companion = CompanionProcess(tmp_path / "screen", name, "den")
    speaker = ["--interface", LOOPBACK, "--state-dir", str(tmp_path / "speaker")]
    try:
        listed = edge("cast", "screens", *speaker, "--wait", "2", "--json")
        rows = [json.loads(line) for line in listed.stdout.splitlines()]
        mine = [row for row in rows if row["name"] == name]
        assert mine and mine[0]["room"] == "den" and mine[0]["paired"] is False and mine[0]["state"] == "online"

        refused = edge("cast", "send", *speaker, "--to", name, "--wait", "2", stdin='{"title": "before pairing"}')
        assert refused.returncode == 1 and json.loads(refused.stdout)["status"] == "speech-only"

        wrong = edge("cast", "pair", name, f"{(int(companion.code) + 1) % 10**6:06d}", *speaker)
        assert wrong.returncode == 1 and "wrong pairing code" in wrong.stderr
        # Five wrong codes would replace it; one leaves the shown code valid.
        paired = edge("cast", "pair", name, companion.code, *speaker)
        assert paired.returncode == 0 and paired.stdout.strip() == f"paired with {name} (den)"

        sent = edge("cast", "send", *speaker, "--to", name, stdin='{"title": "From the CLI", "items": ["one", "two"]}')
        outcome = json.loads(sent.stdout)
        assert sent.returncode == 0 and (outcome["status"], outcome["screen"]) == ("delivered", name)

        garbage = edge("cast", "send", *speaker, stdin="not json")
        assert garbage.returncode == 2 and "is not JSON" in garbage.stderr
    finally:
        companion.stop()


def test_edge_ask_cast_puts_the_replys_card_on_the_paired_screen(tmp_path):
    name = unique("Hall TV")
    companion = CompanionProcess(tmp_path / "screen", name, "hall")
    speaker = ["--interface", LOOPBACK, "--set", f"cast.state_dir={tmp_path / 'speaker'}",
               "--set", "cast.browse_chromecast=false", "--set", f"skills.database_path={tmp_path / 'db.sqlite3'}"]
    try:
        assert edge("cast", "pair", name, companion.code, "--interface", LOOPBACK, "--state-dir", str(tmp_path / "speaker")).returncode == 0
        assert edge("ask", "add milk to my shopping list", *speaker).returncode == 0  # no --cast: no mDNS at all

        asked = edge("ask", "what is on my shopping list", "--json", "--cast", *speaker)
        trace = json.loads(asked.stdout)
        assert asked.returncode == 0, asked.stderr
        assert "milk" in trace["reply"].lower() and trace["card"]["title"] == "Shopping list"
        cast = trace["card"]["cast"]
        assert (cast["status"], cast["screen"]) == ("delivered", name), cast

        quiet = edge("ask", "what is on my shopping list", "--json", *speaker)
        assert json.loads(quiet.stdout)["card"]["cast"]["status"] == "speech-only"  # casting is opt-in for ask
    finally:
        companion.stop()


def test_a_speaker_whose_caster_cannot_start_still_answers(tmp_path):
    database = ["--set", f"skills.database_path={tmp_path / 'db'}"]
    assert edge("ask", "add bread to my shopping list", *database).returncode == 0
    # 192.0.2.1 (TEST-NET-1) is on no interface of this machine: mDNS cannot bind to it
    asked = edge("ask", "what is on my shopping list", "--json", "--cast", "--interface", "192.0.2.1",
                 "--set", f"cast.state_dir={tmp_path / 'speaker'}", *database)
    assert asked.returncode == 0, asked.stderr
    assert "screen casting is off" in asked.stderr
    assert json.loads(asked.stdout)["card"]["cast"]["status"] == "speech-only"
