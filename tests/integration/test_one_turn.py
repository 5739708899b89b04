"""One Turn behind every front end: the same three-turn conversation through `edge ask`, `edge chat`,
`edge run --input` (spoken, with follow-ups) and a satellite of `edge bridge serve` gets the same
replies and the same trace fields. Real models, real processes, real sockets on loopback.

The user's lines are phrased as Whisper tiny.en hears them right (see test_dialogue_pipeline.py).
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
from helpers.processes import SHUTDOWN_SECONDS, STARTUP_SECONDS, LineReader
from helpers.whisper_onnx_fixture import ensure_whisper_onnx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # bench/ builds the recordings

from bench.conversation import Segment, alexa_clips, build  # noqa: E402
from edge.audio.wavio import resample, write_wav  # noqa: E402

SCRIPT = [
    "Book a hotel near Beijing West station for Friday.",
    "About two hundred yuan.",
    "Yes, please.",
]
REPLIES = [
    "What's your budget per night?",
    "Jade Garden Hotel near Beijing West Station has a room on Friday for 188 yuan. Shall I book it?",
    "Booked Jade Garden Hotel for Friday night, 188 yuan. Your reference is H0001.",
]
# What every front end's trace must agree on, turn by turn.
COMPARED = ("intent", "route", "route_rule", "skill", "reply", "expects_follow_up")


def environment(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "HOME": str(tmp_path), "PYTHONPATH": str(ROOT), "EDGE_SKILLS__ENTRY_POINTS": "false",
            "EDGE_SKILLS__DATABASE_PATH": str(tmp_path / "edge.sqlite3"), "EDGE_ASR__ENGINE": "onnx-whisper",
            "EDGE_CAST__ENABLED": "false"}


def edge(*args: str, tmp_path: Path, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge", *args], input=stdin, capture_output=True, text=True,
                          timeout=STARTUP_SECONDS, env=environment(tmp_path), cwd=ROOT)


def compared(trace: dict) -> dict:
    return {name: trace.get(name, False if name == "expects_follow_up" else None) for name in COMPARED}


@pytest.fixture(scope="module")
def voice():
    """The bundled Piper voice without its random noise: the user's lines are the same every run."""
    from piper import PiperVoice, SynthesisConfig

    from edge.tts.piper import bundled_voice_paths

    model, config = bundled_voice_paths()
    return PiperVoice.load(model, config_path=config), SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)


def say(voice, text: str) -> np.ndarray:
    """`text` spoken at 16 kHz, float32."""
    piper, config = voice
    samples = np.concatenate([chunk.audio_int16_array for chunk in piper.synthesize(text, syn_config=config)])
    return resample(samples.astype(np.float32) / 32768.0, piper.config.sample_rate, 16000)


@pytest.fixture(scope="module")
def typed_traces(tmp_path_factory):
    """The conversation through `edge ask --batch` (one process: one conversation)."""
    tmp_path = tmp_path_factory.mktemp("ask")
    batch = tmp_path / "requests.txt"
    batch.write_text("\n".join(SCRIPT) + "\n")
    result = edge("ask", "--batch", str(batch), "--json", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_edge_ask_holds_the_conversation(typed_traces):
    assert [trace["reply"] for trace in typed_traces] == REPLIES
    assert {trace["session"] for trace in typed_traces} == {"ask"}


def test_edge_chat_gives_the_same_turns(typed_traces, tmp_path):
    result = edge("chat", "--json", tmp_path=tmp_path, stdin="\n".join(SCRIPT) + "\n")
    assert result.returncode == 0, result.stderr[-2000:]
    traces = [json.loads(line) for line in result.stdout.splitlines()]
    assert [compared(trace) for trace in traces] == [compared(trace) for trace in typed_traces]


def test_edge_run_input_gives_the_same_turns_spoken(typed_traces, voice, tmp_path):
    """Wake word, then the two answers inside the follow-up windows the questions open."""
    ensure_whisper_onnx()
    piper, _ = voice
    reply_seconds = [len(say(voice, reply)) / 16000 for reply in REPLIES]
    segments = [Segment(alexa_clips(1, start=3)[0], say(voice, SCRIPT[0]), pause_after_seconds=reply_seconds[0] + 2.5),
                Segment(None, say(voice, SCRIPT[1]), pause_after_seconds=reply_seconds[1] + 2.5),
                Segment(None, say(voice, SCRIPT[2]), pause_after_seconds=reply_seconds[2] + 2.0)]
    audio, _ = build(segments)
    recording = tmp_path / "conversation.wav"
    write_wav(recording, (audio * 32767).astype(np.int16), 16000)
    result = edge("run", "--input", str(recording), "--json", "--out-dir", str(tmp_path / "out"), tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    traces = [json.loads(line) for line in result.stdout.splitlines()]
    assert [trace["live"]["trigger"] for trace in traces] == ["alexa", "follow-up", "follow-up"]
    assert [compared(trace) for trace in traces] == [compared(trace) for trace in typed_traces]
    assert {trace["session"] for trace in traces} == {"local"}


def test_a_satellite_of_edge_serve_gets_the_same_turns(typed_traces, voice, tmp_path):
    """`edge bridge serve` logs each turn's trace (edge.turns, one JSON line): the satellite's match."""
    from firmware_bridge.simulator import run_turn

    ensure_whisper_onnx()
    serve = subprocess.Popen([sys.executable, "-m", "edge", "bridge", "serve", "-v", "--wyoming", "tcp://127.0.0.1:0",
                              "--no-zeroconf"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=environment(tmp_path), cwd=ROOT)
    lines = LineReader(serve)
    try:
        line = lines.wait_for("Wyoming on port")
        port = int(line.split("port ")[1].split()[0])
        replies = []
        for text in SCRIPT:
            pcm = (say(voice, text) * 32767).astype("<i2").tobytes()
            report = asyncio.run(run_turn("127.0.0.1", port, pcm, "kitchen-satellite", "kitchen", speed=0,
                                          timeout_seconds=STARTUP_SECONDS))
            replies.append(report.reply)
    finally:
        serve.send_signal(signal.SIGINT)
        serve.wait(SHUTDOWN_SECONDS)
    assert replies == REPLIES
    logged = [json.loads(line.split("edge.turns: ", 1)[1]) for line in lines.stderr_text().splitlines()
              if "edge.turns: " in line]
    assert [compared(trace) for trace in logged] == [compared(trace) for trace in typed_traces]
    assert {(trace["session"], trace["area"]) for trace in logged} == {("kitchen-satellite", "kitchen")}
