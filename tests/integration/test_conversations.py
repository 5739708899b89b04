"""The scripted conversations (conversations.yaml) as a household has them: typed through `edge chat`,
and spoken through `edge run --input` (a recording in the bundled Piper voice with the wake word before
each request that does not answer a question). A conversation from a room (`area`) is spoken through
a satellite of `edge bridge serve` in that room instead. Each asserts every reply and the database
after the last turn (and what the MQTT broker received, for lights and plugs).

Real models and real processes; the only stand-in is the OpenAI-compatible cloud of the `cloud`
conversations (tests/helpers/fake_openai.py, the real protocol byte for byte). The user's lines are
phrased so that Whisper tiny.en hears them right (it hears "a tea timer" as "a t timer").
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import signal
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pytest
from helpers.fake_openai import FakeOpenAI
from helpers.mqtt_broker import MosquittoBroker, MqttListener
from helpers.processes import SHUTDOWN_SECONDS, STARTUP_SECONDS, LineReader
from helpers.whisper_onnx_fixture import ensure_whisper_onnx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.scripted import Conversation, environment, load_conversations, recording  # noqa: E402
from edge.audio.wavio import resample, write_wav  # noqa: E402

CONVERSATIONS = load_conversations()
NO_DEAD_END = "can't do that yet"


def test_there_are_at_least_forty_conversations_covering_the_issue():
    assert len(CONVERSATIONS) >= 40
    covered = {item for conversation in CONVERSATIONS for item in conversation.covers}
    assert {"named timers", "what is left", "stop it", "it", "that", "that one", "the other one", "not that one",
            "make it later", "X too", "what about Y", "and in Sydney", "corrections", "bare yes", "bare no",
            "multi-value slots", "tool calling", "per-room context", "no dead ends"} <= covered


@pytest.fixture(scope="module")
def broker():
    with MosquittoBroker() as port:
        yield port


@pytest.fixture(scope="module")
def voice():
    """The bundled Piper voice without its random noise: the user's lines are the same every run."""
    from piper import PiperVoice, SynthesisConfig

    from edge.tts.piper import bundled_voice_paths

    model, config = bundled_voice_paths()
    piper, quiet = PiperVoice.load(model, config_path=config), SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)

    def say(text: str) -> np.ndarray:
        samples = np.concatenate([chunk.audio_int16_array for chunk in piper.synthesize(text, syn_config=quiet)])
        return resample(samples.astype(np.float32) / 32768.0, piper.config.sample_rate, 16000)

    return say


def fixtures(conversation: Conversation, request) -> tuple[ExitStack, int | None, FakeOpenAI | None, queue.Queue | None]:
    """The broker, the fake cloud and the MQTT listener a conversation needs."""
    stack = ExitStack()
    port = request.getfixturevalue("broker") if conversation.home == "mqtt" else None
    cloud = None
    if conversation.cloud:
        calls = [tuple(call) for call in conversation.cloud.get("tool_calls", [])]
        cloud = stack.enter_context(FakeOpenAI("tool_calls", answer=conversation.cloud.get("answer", ""), tool_calls=calls))
    messages = stack.enter_context(MqttListener(port)) if port is not None else None
    return stack, port, cloud, messages


def check(conversation: Conversation, replies: list[str], database: Path, messages: queue.Queue | None,
          heard: list[str] | None = None) -> None:
    wrong = [f"turn {index + 1}: said {turn.say!r}" + (f" (heard {heard[index]!r})" if heard else "") +
             f" -> {reply!r}, expected {turn.expected!r}"
             for index, (turn, reply) in enumerate(zip(conversation.turns, replies, strict=False)) if not turn.expects(reply)]
    assert len(replies) == len(conversation.turns) and not wrong, "\n".join(wrong) or replies
    assert not any(NO_DEAD_END in reply for reply in replies)
    assert conversation.state_problems(database) == []
    if conversation.mqtt:
        got = [messages.get(timeout=5) for _ in conversation.mqtt]
        assert got == [(topic, payload) for topic, payload in conversation.mqtt]


def run_edge(args: list[str], env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "edge", *args], input=stdin, capture_output=True, text=True,
                            timeout=STARTUP_SECONDS, env=env, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    return result


@pytest.mark.parametrize("conversation", CONVERSATIONS, ids=[conversation.name for conversation in CONVERSATIONS])
def test_typed_through_edge_chat(conversation, tmp_path, request):
    stack, port, cloud, messages = fixtures(conversation, request)
    with stack:
        env = {**os.environ, "PYTHONPATH": str(ROOT),
               **environment(conversation, tmp_path, port, cloud.base_url if cloud else "")}
        area = ["--area", conversation.area] if conversation.area else []
        result = run_edge(["chat", "--json", *area], env, "\n".join(turn.say for turn in conversation.turns) + "\n")
        traces = [json.loads(line) for line in result.stdout.splitlines() if line.startswith('{"session"')]
        check(conversation, [trace["reply"] for trace in traces], tmp_path / "edge.sqlite3", messages)
    assert {trace["area"] for trace in traces if "area" in trace} <= {conversation.area}


@pytest.mark.parametrize("conversation", CONVERSATIONS, ids=[conversation.name for conversation in CONVERSATIONS])
def test_spoken_through_edge_run_input(conversation, tmp_path, voice, request):
    ensure_whisper_onnx()
    stack, port, cloud, messages = fixtures(conversation, request)
    with stack:
        env = {**os.environ, "PYTHONPATH": str(ROOT),
               **environment(conversation, tmp_path, port, cloud.base_url if cloud else "")}
        if conversation.area:
            replies, heard = spoken_by_a_satellite(conversation, voice, env)
        else:
            audio = recording(conversation, voice)
            wav = tmp_path / "conversation.wav"
            write_wav(wav, (audio * 32767).astype(np.int16), 16000)
            result = run_edge(["run", "--input", str(wav), "--json", "--out-dir", str(tmp_path / "out")], env)
            traces = [json.loads(line) for line in result.stdout.splitlines() if line.startswith('{"session"')]
            replies, heard = [trace["reply"] for trace in traces], [trace.get("transcript") for trace in traces]
        check(conversation, replies, tmp_path / "edge.sqlite3", messages, heard)


def spoken_by_a_satellite(conversation: Conversation, voice, env: dict[str, str]) -> tuple[list[str], list[str]]:
    """Each request from a satellite in the conversation's room, through `edge bridge serve`."""
    from firmware_bridge.simulator import run_turn

    serve = subprocess.Popen([sys.executable, "-m", "edge", "bridge", "serve", "--wyoming", "tcp://127.0.0.1:0",
                              "--no-zeroconf"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                             cwd=ROOT)
    lines = LineReader(serve)
    replies, heard = [], []
    try:
        port = int(lines.wait_for("Wyoming on port").split("port ")[1].split()[0])
        for turn in conversation.turns:
            pcm = (voice(turn.say) * 32767).astype("<i2").tobytes()
            report = asyncio.run(run_turn("127.0.0.1", port, pcm, f"{conversation.area}-satellite", conversation.area,
                                          speed=0, timeout_seconds=STARTUP_SECONDS))
            replies.append(report.reply or "")
            heard.append(report.transcript or "")
    finally:
        serve.send_signal(signal.SIGINT)
        serve.wait(SHUTDOWN_SECONDS)
    return replies, heard


def test_the_demo_has_no_dead_ends(tmp_path):
    """`make run` on a machine with no microphone plays the bundled demo (`edge run --demo`): every request
    gets an answer, the joke a joke, and no reply is "can't do that yet"."""
    from edge.skills.builtin.jokes import JOKES

    ensure_whisper_onnx()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HOME": str(tmp_path),
           "EDGE_SKILLS__DATABASE_PATH": str(tmp_path / "edge.sqlite3"), "EDGE_SKILLS__ENTRY_POINTS": "false",
           "EDGE_CAST__ENABLED": "false"}
    result = subprocess.run([sys.executable, "-m", "edge", "run", "--demo"], capture_output=True, text=True,
                            timeout=STARTUP_SECONDS, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    replies = [line.split("reply:", 1)[1].strip() for line in result.stdout.splitlines() if line.startswith("reply:")]
    assert len(replies) == 6 and replies[-1] in JOKES, result.stdout[-2000:]
    assert NO_DEAD_END not in result.stdout + result.stderr
