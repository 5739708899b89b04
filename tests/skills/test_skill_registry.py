import logging
from datetime import datetime
from typing import ClassVar
from zoneinfo import ZoneInfo

import pytest

from edge.core.settings import SkillSettings
from edge.core.text.normalize import normalize_utterance
from edge.skills.base import Skill, SkillError, SkillReply, SkillRequest
from edge.skills.builtin import builtin_skills
from edge.skills.builtin.alarms import AlarmSkill
from edge.skills.builtin.calculator import CalculatorSkill
from edge.skills.builtin.clock import ClockSkill
from edge.skills.registry import FALLBACK_SKILL, DuplicateIntentError, SkillRegistry

NOW = datetime(2026, 11, 29, 7, 5, tzinfo=ZoneInfo("America/Los_Angeles"))


def request(intent: str, raw: str = "hello", **slots: str) -> SkillRequest:
    return SkillRequest(intent=intent, text=normalize_utterance(raw), raw_text=raw, slots=slots)


class Echo(Skill):
    name: ClassVar[str] = "echo"
    intents: ClassVar[tuple[str, ...]] = ("general_repeat",)

    def __init__(self) -> None:
        self.closed = 0

    def handle(self, request: SkillRequest) -> SkillReply:
        return SkillReply(text=request.raw_text, card={"title": "Echo"}, skill="ignored")

    def close(self) -> None:
        self.closed += 1


class Broken(Skill):
    name: ClassVar[str] = "broken"
    intents: ClassVar[tuple[str, ...]] = ("general_joke", "general_quirky", "music_query")

    def handle(self, request: SkillRequest) -> SkillReply:
        if request.intent == "general_joke":
            raise SkillError("no jokes configured")
        if request.intent == "music_query":
            return "not a reply"  # type: ignore[return-value]
        raise RuntimeError("boom")

    def close(self) -> None:
        raise OSError("cannot close")


@pytest.fixture
def builtins(tmp_path):
    settings = SkillSettings(database_path=str(tmp_path / "edge.sqlite3"), timezone="America/Los_Angeles")
    registry = SkillRegistry(builtin_skills(settings, clock=lambda: NOW))
    yield registry
    registry.close()


def test_builtin_skills(builtins):
    assert [type(skill) for skill in builtins.skills] == [CalculatorSkill, ClockSkill, AlarmSkill]
    assert builtins.intents == {
        "qa_maths", "datetime_query", "datetime_convert", "alarm_set", "alarm_query", "alarm_remove"
    }
    reply = builtins.handle(request("qa_maths", "What is 2 to the power of 20 plus 20 squared plus 20?"))
    assert reply == SkillReply(text="2 to the power of 20 plus 20 squared plus 20 is 1048996.", skill="calculator")
    assert builtins.handle(request("datetime_query", "What time is it?")) == SkillReply(text="It's 7:05 AM.", skill="clock")
    alarm = builtins.handle(request("alarm_set", "Wake me up at 7 a.m."))
    assert (alarm.text, alarm.skill) == ("Alarm set for 7:00 AM tomorrow.", "alarms")
    assert [(m.kind, m.name, m.actions["cancel"]) for m in alarm.mentions] == [
        ("alarm", "alarm for 7:00 AM tomorrow", "alarm_remove")]  # what "cancel it" refers to next
    assert builtins.handle(request("alarm_query", "What alarms do I have?")).text == "You have 1 alarm: 7:00 AM tomorrow."


def test_builtin_skills_with_default_settings_and_clock(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    with SkillRegistry(builtin_skills()) as registry:
        assert registry.handle(request("datetime_query", "what time is it")).text.startswith("It's ")
    assert (tmp_path / ".local" / "share" / "edge" / "edge.sqlite3").exists()


@pytest.mark.parametrize(
    ("intent", "text"),
    [
        ("weather_query", "Sorry, I can't do that yet."),
        ("", "Sorry, I can't do that yet."),
        ("out_of_scope", "Sorry, I don't know how to help with that."),
    ],
)
def test_fallback(intent, text):
    reply = SkillRegistry([Echo()]).handle(request(intent))
    assert reply == SkillReply(text=text, skill=FALLBACK_SKILL)


def test_registry_names_the_skill():
    reply = SkillRegistry([Echo()]).handle(request("general_repeat", "say this"))
    assert reply == SkillReply(text="say this", card={"title": "Echo"}, skill="echo")


@pytest.mark.parametrize("intent", ["general_joke", "general_quirky", "music_query"])
def test_failing_skill_is_contained(intent, caplog):
    registry = SkillRegistry([Echo(), Broken()])
    with caplog.at_level(logging.ERROR, logger="edge.skills"):
        reply = registry.handle(request(intent))
    assert (reply.text, reply.skill) == ("Sorry, something went wrong with the broken skill.", "broken")
    assert reply.error  # for the turn trace
    assert len(caplog.records) == 1
    assert caplog.records[0].exc_info is not None  # logged with the traceback
    assert registry.handle(request("general_repeat", "still here")).text == "still here"


def test_failing_builtin_is_contained(builtins, caplog):
    naive = SkillRequest(intent="datetime_query", text="what time is it", raw_text="", now=datetime(2026, 1, 1))
    with caplog.at_level(logging.ERROR, logger="edge.skills"):
        assert builtins.handle(naive).text == "Sorry, something went wrong with the clock skill."
    assert "timezone-aware" in caplog.text


def test_duplicate_intents_are_refused():
    registry = SkillRegistry([Echo()])
    with pytest.raises(DuplicateIntentError, match="general_repeat"):
        registry.register(Echo())


def test_close_closes_every_skill_once(caplog):
    first, second = Echo(), Echo()
    second_registry = SkillRegistry([second])
    registry = SkillRegistry([Broken(), first])
    with caplog.at_level(logging.ERROR, logger="edge.skills"):
        registry.close()
    registry.close()
    assert first.closed == 1
    assert "closing skill broken failed" in caplog.text
    with second_registry:
        pass
    assert second.closed == 1
    assert registry.handle(request("general_repeat")).skill == FALLBACK_SKILL
