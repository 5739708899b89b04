"""One parser with grouped subcommands; the old flat names still work for one release and say the new one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from helpers.processes import STARTUP_SECONDS

from edge.cli.main import build_parser, modernize

ROOT = Path(__file__).resolve().parents[2]


def edge(*args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HOME": str(tmp_path), "EDGE_SKILLS__DATABASE_PATH": str(tmp_path / "edge.sqlite3")}
    return subprocess.run([sys.executable, "-m", "edge", *args], capture_output=True, text=True,
                          timeout=STARTUP_SECONDS, env=env, cwd=ROOT)


def test_the_help_lists_the_groups(tmp_path):
    result = edge("--help", tmp_path=tmp_path)
    assert result.returncode == 0
    for command in ("ask", "run", "chat", "skills", "cast", "bridge", "data", "devices"):
        assert command in result.stdout
    for group, actions in {"cast": ("companion", "screens", "pair", "unpair", "send"), "bridge": ("serve", "satellite"),
                           "data": ("privacy", "flywheel"), "devices": ("show", "bench"), "skills": ("list", "examples")}.items():
        text = edge(group, "--help", tmp_path=tmp_path).stdout
        assert all(action in text for action in actions), (group, text)


def test_old_names_are_rewritten_with_a_note(capsys):
    assert modernize(["-v", "serve", "--no-zeroconf"]) == ["-v", "bridge", "serve", "--no-zeroconf"]
    assert "`edge serve` is now `edge bridge serve`" in capsys.readouterr().err
    assert modernize(["cast", "card.json", "--to", "tv"]) == ["cast", "send", "card.json", "--to", "tv"]
    assert modernize(["devices", "--json"]) == ["devices", "show", "--json"]
    assert modernize(["devices", "bench"]) == ["devices", "bench"]
    assert modernize(["cast", "--help"]) == ["cast", "--help"]
    args = build_parser().parse_args(modernize(["privacy", "--limit", "3"]))
    assert (args.command, args.data_command, args.limit) == ("data", "privacy", 3)


def test_an_old_name_still_runs(tmp_path):
    result = edge("privacy", "--json", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "`edge privacy` is now `edge data privacy`" in result.stderr
    shown = edge("devices", "--json", tmp_path=tmp_path)
    assert shown.returncode == 0 and "profile" in json.loads(shown.stdout)


def test_a_bad_setting_is_one_line_and_exit_code_2(tmp_path):
    result = edge("ask", "hi", "--set", "router.min_margin=lots", tmp_path=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["edge: command line: router.min_margin must be of type float, got 'lots'"]
