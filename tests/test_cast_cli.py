"""`edge screens`, `edge pair` and `edge cast` as a user runs them, against a real `edge companion`."""

import json
import os
import subprocess
import sys

from cast_helpers import LOOPBACK, ROOT, CompanionProcess, cast_deps, unique

cast_deps()


def edge(*args, stdin=""):
    command = [sys.executable, "-m", "edge", *args]
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(command, cwd=ROOT, env=environment, input=stdin, capture_output=True, text=True, timeout=60)


def test_list_pair_and_cast_from_the_command_line(tmp_path):
    name = unique("Den TV")
    companion = CompanionProcess(tmp_path / "screen", name, "den")
    speaker = ["--interface", LOOPBACK, "--state-dir", str(tmp_path / "speaker")]
    try:
        listed = edge("screens", *speaker, "--wait", "2", "--json")
        rows = [json.loads(line) for line in listed.stdout.splitlines()]
        mine = [row for row in rows if row["name"] == name]
        assert mine and mine[0]["room"] == "den" and mine[0]["paired"] is False and mine[0]["state"] == "online"

        refused = edge("cast", *speaker, "--to", name, "--wait", "2", stdin='{"title": "before pairing"}')
        assert refused.returncode == 1 and json.loads(refused.stdout)["status"] == "speech-only"

        wrong = edge("pair", name, f"{(int(companion.code) + 1) % 10**6:06d}", *speaker)
        assert wrong.returncode == 1 and "wrong pairing code" in wrong.stderr
        # Five wrong codes would replace it; one leaves the shown code valid.
        paired = edge("pair", name, companion.code, *speaker)
        assert paired.returncode == 0 and paired.stdout.strip() == f"paired with {name} (den)"

        sent = edge("cast", *speaker, "--to", name, stdin='{"title": "From the CLI", "items": ["one", "two"]}')
        outcome = json.loads(sent.stdout)
        assert sent.returncode == 0 and (outcome["status"], outcome["screen"]) == ("delivered", name)

        garbage = edge("cast", *speaker, stdin="not json")
        assert garbage.returncode == 2 and "is not JSON" in garbage.stderr
    finally:
        companion.stop()
