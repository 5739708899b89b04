"""Sessions never cross and alerts are never lost, on the real runtime.

- Two satellites talking at once keep separate conversations: one's pending question and history
  never reach the other's turn, nor the other's escalation (checked in the privacy ledger).
- `edge chat` routes exactly as `edge ask` (the same route for the same text).
- `edge run --input` over a recording that sets a 5-second timer and then is silent speaks the
  timer's announcement; a satellite that set a timer gets it announced.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers.bridge_server import ServerThread
from helpers.fake_openai import FakeOpenAI
from helpers.processes import SHUTDOWN_SECONDS, STARTUP_SECONDS, LineReader
from helpers.whisper_onnx_fixture import ensure_whisper_onnx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.conversation import Segment, alexa_clips, build  # noqa: E402
from edge.audio.wavio import resample, write_wav  # noqa: E402
from firmware_bridge.client import WyomingClient  # noqa: E402
from firmware_bridge.simulator import TurnReport, collect_reply, hello, run_turn, stream_request  # noqa: E402
from firmware_bridge.wyoming.events import Synthesize  # noqa: E402

ANSWER = "Here is what I found."


def environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "HOME": str(tmp_path), "PYTHONPATH": str(ROOT), "EDGE_SKILLS__ENTRY_POINTS": "false",
            "EDGE_SKILLS__DATABASE_PATH": str(tmp_path / "edge.sqlite3"), "EDGE_CAST__ENABLED": "false", **extra}


@pytest.fixture(scope="module")
def voice():
    from piper import PiperVoice, SynthesisConfig

    from edge.tts.piper import bundled_voice_paths

    model, config = bundled_voice_paths()
    return PiperVoice.load(model, config_path=config), SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)


def say(voice, text: str) -> np.ndarray:
    piper, config = voice
    samples = np.concatenate([chunk.audio_int16_array for chunk in piper.synthesize(text, syn_config=config)])
    return resample(samples.astype(np.float32) / 32768.0, piper.config.sample_rate, 16000)


def pcm(voice, text: str) -> bytes:
    return (say(voice, text) * 32767).astype("<i2").tobytes()


@pytest.fixture(scope="module")
def cloud():
    with FakeOpenAI(answer=ANSWER) as fake:
        yield fake


@pytest.fixture(scope="module")
def server(tmp_path_factory, cloud):
    ensure_whisper_onnx()
    database = tmp_path_factory.mktemp("two-rooms") / "edge.sqlite3"
    thread = ServerThread(database, **{"llm.base_url": cloud.base_url, "asr.engine": "onnx-whisper"})
    yield thread
    thread.close()


def test_two_satellites_at_once_keep_separate_conversations(server, voice):
    async def both(first: tuple[str, str], second: tuple[str, str]) -> list[TurnReport]:
        return await asyncio.gather(*(
            run_turn("127.0.0.1", server.port, pcm(voice, text), name, name, speed=0, timeout_seconds=STARTUP_SECONDS)
            for name, text in (first, second)))

    # The kitchen is asked a question; the bedroom says what would answer it, at the same moment.
    kitchen, bedroom = asyncio.run(both(("kitchen", "Book a hotel near Beijing West station for Friday."),
                                        ("bedroom", "About two hundred yuan.")))
    assert kitchen.reply == "What's your budget per night?"
    assert "Jade Garden" not in (bedroom.reply or "")  # the kitchen's pending question is not the bedroom's
    sessions = server.inspect(lambda: dict(server.server.hub.sessions))
    assert sessions["bedroom"].last_trace["session"] == "bedroom"
    assert "dialogue" not in sessions["bedroom"].last_trace or \
        sessions["bedroom"].last_trace["dialogue"]["action"] != "answer"
    (kitchen_again,) = asyncio.run(both(("kitchen", "About two hundred yuan."), ("bedroom", "Why is the sky blue?")))[:1]
    assert kitchen_again.reply.startswith("Jade Garden Hotel near Beijing West Station has a room on Friday")


def test_one_satellites_history_never_reaches_anothers_escalation(server, voice, cloud):
    ledger = server.pipeline.cascade.escalator.ledger
    before = ledger.count()
    first = asyncio.run(run_turn("127.0.0.1", server.port, pcm(voice, "What is the capital of France?"), "study", "study",
                                 speed=0, timeout_seconds=STARTUP_SECONDS))
    assert first.reply == ANSWER
    second = asyncio.run(run_turn("127.0.0.1", server.port, pcm(voice, "What is the tallest mountain?"), "garage",
                                  "garage", speed=0, timeout_seconds=STARTUP_SECONDS))
    assert second.reply == ANSWER
    entries = [entry for entry in ledger.entries(ledger.count() - before) if entry.purpose == "answer"]
    garage = entries[-1]
    sent = json.dumps(garage.sent).lower()
    assert "tallest mountain" in sent and "capital of france" not in sent  # nothing of the study's turn
    third = asyncio.run(run_turn("127.0.0.1", server.port, pcm(voice, "And what is its population?"), "study", "study",
                                 speed=0, timeout_seconds=STARTUP_SECONDS))
    assert third.reply == ANSWER
    study = [entry for entry in ledger.entries(ledger.count() - before) if entry.purpose == "answer"][-1]
    study_sent = json.dumps(study.sent).lower()
    assert "capital of france" in study_sent and "tallest mountain" not in study_sent  # its own history only


def test_edge_chat_routes_exactly_as_edge_ask(tmp_path, cloud):
    lines = ["What is the capital of France?", "set an alarm for seven am", "tell me something interesting",
             "what time is it", "why do cats purr"]
    env = environment(tmp_path, EDGE_LLM__BASE_URL=cloud.base_url)
    batch = tmp_path / "lines.txt"
    batch.write_text("\n".join(lines) + "\n")
    ask = subprocess.run([sys.executable, "-m", "edge", "ask", "--batch", str(batch), "--json"], capture_output=True,
                         text=True, timeout=STARTUP_SECONDS, env=env, cwd=ROOT)
    chat = subprocess.run([sys.executable, "-m", "edge", "chat", "--json"], input="\n".join(lines) + "\n",
                          capture_output=True, text=True, timeout=STARTUP_SECONDS, env=env, cwd=ROOT)
    assert ask.returncode == 0 and chat.returncode == 0, ask.stderr[-1500:] + chat.stderr[-1500:]
    asked = [json.loads(line) for line in ask.stdout.splitlines()]
    chatted = [json.loads(line) for line in chat.stdout.splitlines()]
    routes = [(trace["route"], trace["route_rule"]) for trace in asked]
    assert routes == [(trace["route"], trace["route_rule"]) for trace in chatted]
    assert ("cloud", "out-of-scope") in routes or any(route == "cloud" for route, _ in routes)  # chat escalates too


def test_edge_run_input_speaks_a_timer_set_in_the_recording(tmp_path, voice):
    ensure_whisper_onnx()
    request = say(voice, "Set a timer for five seconds.")
    audio, _ = build([Segment(alexa_clips(1, start=5)[0], request, pause_after_seconds=15.0)])
    recording = tmp_path / "timer.wav"
    write_wav(recording, (audio * 32767).astype(np.int16), 16000)
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "edge", "run", "--input", str(recording), "--json", "--out-dir",
                             str(out), "--set", "asr.engine=onnx-whisper"], capture_output=True, text=True,
                            timeout=STARTUP_SECONDS, env=environment(tmp_path), cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    records = [json.loads(line) for line in result.stdout.splitlines()]
    turn, alert = records
    assert turn["reply"] == "Timer set for 5 seconds." and turn["session"] == "local"
    assert alert["alert"]["kind"] == "timer" and alert["alert"]["text"] == "Your timer for 5 seconds is done."
    assert alert["alert"]["session"] == "local"
    replies = sorted(out.glob("reply-*.wav"))
    assert len(replies) == 2 and replies[1].stat().st_size > 44  # the announcement was spoken, after the reply


def test_a_satellite_that_set_a_timer_hears_it(tmp_path, voice):
    ensure_whisper_onnx()
    serve = subprocess.Popen([sys.executable, "-m", "edge", "bridge", "serve", "--wyoming", "tcp://127.0.0.1:0",
                              "--no-zeroconf", "--set", "asr.engine=onnx-whisper"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=environment(tmp_path), cwd=ROOT)
    lines = LineReader(serve)

    async def set_a_timer_and_wait(port: int):
        ringing = await WyomingClient.connect("127.0.0.1", port)  # the room that sets the timer
        other = await WyomingClient.connect("127.0.0.1", port)  # another room, connected all along
        try:
            await hello(ringing, "hall", "hall", STARTUP_SECONDS)
            await hello(other, "attic", "attic", STARTUP_SECONDS)
            stopped = await stream_request(ringing, pcm(voice, "Set a timer for five seconds."), speed=0)
            reply = await collect_reply(ringing, TurnReport(), stopped, STARTUP_SECONDS)
            while True:  # nothing else is said on this connection until the timer rings
                event = await ringing.receive(STARTUP_SECONDS)
                if isinstance(event, Synthesize):
                    return reply, event.text, await _pending_synthesize(other)
        finally:
            await ringing.close()
            await other.close()

    try:
        port = int(lines.wait_for("Wyoming on port").split("port ")[1].split()[0])
        reply, announced, heard_elsewhere = asyncio.run(set_a_timer_and_wait(port))
    finally:
        serve.send_signal(signal.SIGINT)
        serve.wait(SHUTDOWN_SECONDS)
    assert reply.reply == "Timer set for 5 seconds."
    assert announced == "Your timer for 5 seconds is done."
    assert heard_elsewhere is None  # the timer was the hall's: the attic was not disturbed


async def _pending_synthesize(client: WyomingClient):
    """A Synthesize already waiting on `client`, or None (a short look: the alert went out already)."""
    try:
        event = await client.receive(1.0)
    except TimeoutError:
        return None
    return event.text if isinstance(event, Synthesize) else None
