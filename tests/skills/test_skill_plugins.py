"""Third-party skills through the `edge.skills` entry point group; broken, failing and hanging skills."""

import json
import logging
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import ClassVar

import pytest
from helpers.processes import STARTUP_SECONDS

from edge.core.events import IntentResult
from edge.core.settings import Settings, SkillSettings
from edge.dialogue import DialogueManager
from edge.skills.base import Skill, SkillReply, SkillRequest
from edge.skills.loader import load_skills
from edge.skills.registry import SkillRegistry

ROOT = Path(__file__).resolve().parents[2]


def edge_command(*args, env=None, stdin="", timeout=STARTUP_SECONDS):
    return subprocess.run([sys.executable, "-m", "edge", *args], input=stdin, capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=ROOT)


@pytest.fixture
def env(tmp_path):
    environment = dict(os.environ, HOME=str(tmp_path), EDGE_SKILLS__DATABASE_PATH=str(tmp_path / "edge.sqlite3"))
    environment.pop("PYTHONPATH", None)
    return environment


def test_an_installed_skill_adds_its_intents(tea_site, env):
    env["PYTHONPATH"] = f"{tea_site}{os.pathsep}{ROOT}"
    listing = edge_command("skills", "list", "--json", env=env)
    assert listing.returncode == 0, listing.stderr
    skills = {row["skill"]: row for row in json.loads(listing.stdout)["skills"]}
    assert skills["tea"]["origin"] == "edge-skill-tea 0.1.0 (entry point 'tea')"
    assert skills["tea"]["intents"] == {"tea_brew": 5}
    assert skills["hotels"]["origin"] == "built-in"

    chat = edge_command("chat", env=env, stdin="make me a cup of jasmine tea\nbrew some tea\noolong\n")
    assert chat.returncode == 0, chat.stderr
    assert chat.stdout.splitlines() == [
        "edge> Brewing a cup of jasmine tea; it will be ready in 3 minutes.",
        "edge> Which tea would you like: green, black, jasmine or oolong?",
        "edge> Brewing a cup of oolong tea; it will be ready in 5 minutes.",
    ]
    examples = edge_command("skills", "examples", "--per-sentence", "3", env=env)
    rows = [json.loads(line) for line in examples.stdout.splitlines()]
    tea = [row for row in rows if row["intent"] == "tea_brew"]
    assert tea and any(span["slot"] == "tea" for row in tea for span in row["slots"])


def _write_plugin(site: Path, name: str, module_source: str, yaml_text: str | None, entry: str) -> None:
    """A package as pip leaves it: the module, its YAML, and a dist-info with the entry point."""
    package = site / name
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(textwrap.dedent(module_source))
    if yaml_text is not None:
        (package / "skill.yaml").write_text(textwrap.dedent(yaml_text))
    info = site / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name.replace('_', '-')}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[edge.skills]\n{entry}\n")


DECLARED = """
    from typing import ClassVar
    from edge.skills.declared import DeclaredSkill

    class Plugin(DeclaredSkill):
        spec_file: ClassVar[str] = "skill.yaml"

        def on_{intent}(self, request):
            return "plugin answered"
"""


def test_broken_skills_are_skipped_with_a_clear_message(tmp_path, monkeypatch, caplog):
    site = tmp_path / "site"
    _write_plugin(site, "bad_yaml_skill", DECLARED.format(intent="bad_thing"),
                  "skill: bad\nintents:\n  bad_thing:\n    sentences:\n      - do the {thing\n", "bad = bad_yaml_skill:Plugin")
    _write_plugin(site, "clash_skill", DECLARED.format(intent="hotel_book"),
                  "skill: clash\nintents:\n  hotel_book:\n    sentences: [book it]\n", "clash = clash_skill:Plugin")
    _write_plugin(site, "import_error_skill", "import not_installed_anywhere\n", None, "gone = import_error_skill:Plugin")
    _write_plugin(site, "good_skill", DECLARED.format(intent="good_thing"),
                  "skill: good\nintents:\n  good_thing:\n    sentences: [do the good thing]\n", "good = good_skill:Plugin")
    monkeypatch.syspath_prepend(str(site))
    settings = Settings(skills=SkillSettings(database_path=str(tmp_path / "edge.sqlite3")))
    with caplog.at_level(logging.WARNING, logger="edge.skills.loader"):
        loaded = load_skills(settings)
    try:
        problems = "\n".join(loaded.problems)
        assert f"{site / 'bad_yaml_skill' / 'skill.yaml'}:5: bad_thing: bad slot at column 8 of 'do the {{thing'" in problems
        assert "skipped skill 'clash' from clash-skill 1.0 (entry point 'clash'): skills 'hotels' and 'clash' both" in problems
        assert "cannot import import_error_skill:Plugin: ModuleNotFoundError" in problems
        assert len(loaded.problems) == 3 and all(problem in caplog.text for problem in loaded.problems)
        assert {"good", "hotels", "lists"} <= {skill.name for skill in loaded.registry.skills}
        dialogue = DialogueManager(settings.dialogue, loaded.registry, loaded.context.memory, loaded.context.clock)
        turn = dialogue.interpret(IntentResult(text="do the good thing", intent="out_of_scope", out_of_scope=True),
                                  "do the good thing")
        assert dialogue.respond(turn).text == "plugin answered"
    finally:
        loaded.close()


class Raising(Skill):
    name: ClassVar[str] = "raising"
    intents: ClassVar[tuple[str, ...]] = ("general_joke",)

    def handle(self, request: SkillRequest) -> SkillReply:
        raise ZeroDivisionError("joke division by zero")


class Hanging(Skill):
    name: ClassVar[str] = "hanging"
    intents: ClassVar[tuple[str, ...]] = ("play_music",)

    def __init__(self):
        self.release = threading.Event()
        self.returned = threading.Event()
        self.calls = 0

    def handle(self, request: SkillRequest) -> SkillReply:
        self.calls += 1
        self.release.wait(30)  # a network call that never returns
        self.returned.set()
        return SkillReply("too late")


def test_a_raising_skill_gives_an_apology_and_a_logged_trace(caplog):
    registry = SkillRegistry([Raising()], timeout_seconds=2.0)
    with caplog.at_level(logging.ERROR, logger="edge.skills"):
        reply = registry.handle(SkillRequest(intent="general_joke", text="tell me a joke", raw_text="tell me a joke"))
    assert reply.text == "Sorry, something went wrong with the raising skill."
    assert reply.error == "ZeroDivisionError: joke division by zero"
    assert "Traceback" in caplog.text and "joke division by zero" in caplog.text


def test_a_hanging_skill_is_timed_out(caplog):
    hanging = Hanging()
    registry = SkillRegistry([hanging], timeout_seconds=0.3)
    request = SkillRequest(intent="play_music", text="play music", raw_text="play music")
    try:
        with caplog.at_level(logging.ERROR, logger="edge.skills"):
            start = time.monotonic()
            reply = registry.handle(request)
            elapsed = time.monotonic() - start
        assert reply.text == "Sorry, the hanging skill is not responding."
        assert reply.error == "skill 'hanging' timed out after 0.3 s"
        assert 0.3 <= elapsed < 5.0  # answered at the timeout, not when the skill returns (30 s)
        assert "it hangs here" in caplog.text and "self.release.wait(30)" in caplog.text
        again = registry.handle(request)  # not called again while its first call is stuck
        assert again.error == "skill 'hanging' is still stuck on an earlier request; not called" and hanging.calls == 1
        hanging.release.set()
        assert hanging.returned.wait(STARTUP_SECONDS)  # the stuck call ends...
        for thread in threading.enumerate():  # ...and its thread with it
            if thread.name == "skill-hanging":
                thread.join(STARTUP_SECONDS)
        hanging.release.clear()
        hanging.release.set()
        assert registry.handle(request).text == "too late"  # it recovered
    finally:
        hanging.release.set()
