"""Scripted conversations (tests/integration/conversations.yaml): read them, judge replies and the final
database state, and build the spoken recording of one (wake word before each request that is not a
follow-up, the user's lines in the bundled Piper voice, room for each reply).

    conversations = load_conversations()
    ok = turn.expects(trace["reply"])                     # an exact reply, or a regular expression
    problems = conversation.state_problems(database)      # [] when every query gives its rows
    audio = recording(conversation, voice)                # float32, 16 kHz, for `edge run --input`

Used by tests/integration/test_conversations.py (through `edge chat` and `edge run --input`) and by
`python -m bench.dialogue` (turn accuracy and latency).
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from bench.conversation import Segment, alexa_clips, build

CONVERSATIONS = Path(__file__).resolve().parent.parent / "tests" / "integration" / "conversations.yaml"
REPLY_SECONDS_PER_CHAR = 0.075  # the bundled voice says about 13 characters a second
PAUSE_AFTER_REPLY_SECONDS = 2.0  # the user starts this long after the reply ends (inside the 8 s follow-up window)


@dataclass(frozen=True)
class ScriptedTurn:
    say: str
    reply: str = ""  # exact
    match: str = ""  # or a regular expression the whole reply matches
    question: bool | None = None  # the reply opens the follow-up window; None: it ends with "?"

    def expects(self, reply: str) -> bool:
        if self.match:
            return re.fullmatch(self.match, reply, flags=re.DOTALL) is not None
        return reply == self.reply

    @property
    def asks(self) -> bool:
        """The expected reply is a question: the next request is a follow-up, without the wake word."""
        if self.question is not None:
            return self.question
        return (self.match or self.reply).rstrip().endswith(("?", "\\?"))

    @property
    def expected(self) -> str:
        return self.reply or f"/{self.match}/"


@dataclass(frozen=True)
class Conversation:
    name: str
    turns: tuple[ScriptedTurn, ...]
    covers: tuple[str, ...] = ()
    area: str = ""
    home: str = ""  # "mqtt": lights and plugs on a local broker
    cloud: dict[str, Any] = field(default_factory=dict)  # {"tool_calls": [[name, arguments JSON]]}
    state: tuple[dict[str, Any], ...] = ()  # [{"sql": ..., "rows": [[...]]}]
    mqtt: tuple[tuple[str, dict], ...] = ()  # messages the broker must see, in order

    def state_problems(self, database: Path) -> list[str]:
        """What differs between the database and `state` ([] when all agree)."""
        problems = []
        with sqlite3.connect(database) as connection:
            for check in self.state:
                rows = [list(row) for row in connection.execute(check["sql"]).fetchall()]
                if rows != check["rows"]:
                    problems.append(f"{check['sql']}: {rows} != {check['rows']}")
        return problems


def load_conversations(path: Path = CONVERSATIONS) -> list[Conversation]:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    conversations = []
    for item in document["conversations"]:
        turns = tuple(ScriptedTurn(turn["say"], str(turn.get("reply", "")), str(turn.get("match", "")), turn.get("asks"))
                      for turn in item["turns"])
        if any(not (turn.reply or turn.match) for turn in turns):
            raise ValueError(f"{path}: conversation {item['name']!r} has a turn with neither reply nor match")
        conversations.append(Conversation(
            item["name"], turns, tuple(item.get("covers", [])), item.get("area", ""), item.get("home", ""),
            item.get("cloud", {}) or {}, tuple(item.get("state", [])),
            tuple((topic, payload) for topic, payload in item.get("mqtt", [])),
        ))
    names = [conversation.name for conversation in conversations]
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: conversation names must be unique")
    return conversations


def environment(conversation: Conversation, folder: Path, broker_port: int | None = None,
                cloud_url: str = "") -> dict[str, str]:
    """EDGE_* variables for one conversation's run on a fresh database in `folder`."""
    # a fresh HOME, but the machine's cache: the Whisper ONNX graphs are built once, not per conversation
    env = {"HOME": str(folder), "XDG_CACHE_HOME": os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache"),
           "EDGE_SKILLS__DATABASE_PATH": str(folder / "edge.sqlite3"),
           "EDGE_SKILLS__ENTRY_POINTS": "false", "EDGE_CAST__ENABLED": "false", "EDGE_ASR__ENGINE": "onnx-whisper",
           "EDGE_ROUTER__LOG_TRAINING_DATA": "false"}
    if conversation.home == "mqtt" and broker_port is not None:
        env.update(EDGE_HOME__BACKEND="mqtt", EDGE_HOME__MQTT_PORT=str(broker_port))
    if cloud_url:
        env.update(EDGE_LLM__BASE_URL=cloud_url, EDGE_LLM__RETRIES="0")
    return env


Voice = Callable[[str], np.ndarray]  # text -> float32 16 kHz speech


def recording(conversation: Conversation, say: Voice, reply_seconds: Callable[[str], float] | None = None) -> np.ndarray:
    """The conversation as a microphone would hear it: the wake word ("alexa") before each request that
    does not answer a question, and after each request room for the reply and a short pause."""
    wakes = alexa_clips(len(conversation.turns))
    length = reply_seconds or (lambda text: len(text) * REPLY_SECONDS_PER_CHAR)
    segments, follow_up = [], False
    for index, turn in enumerate(conversation.turns):
        expected = turn.reply or re.sub(r"\\.|[()|?*+\\\\]", "", turn.match)
        wake = None if follow_up else wakes[index % len(wakes)]
        segments.append(Segment(wake, say(turn.say), pause_after_seconds=length(expected) + PAUSE_AFTER_REPLY_SECONDS))
        follow_up = turn.asks
    audio, _ = build(segments)
    return audio
