"""`edge run` (the speaker's main job) finds a paired screen by itself and casts a reply's card to it.

A recording with the wake word and two requests ("put milk on my shopping list", "what is on my
shopping list") goes through `edge run --input`, with a real `edge cast companion` paired first:
the second turn's card must reach that screen. Casting needs nothing beyond the runtime install
(zeroconf, aiohttp and markdown-it-py are runtime dependencies).
"""

import json
import os
import subprocess
import sys
import tomllib

import numpy as np
import soxr
from helpers.cast_helpers import LOOPBACK, ROOT, CompanionProcess, cast_deps, unique
from helpers.processes import STARTUP_SECONDS
from helpers.whisper_onnx_fixture import ensure_whisper_onnx

cast_deps()
sys.path.insert(0, str(ROOT))  # bench/ builds the conversation

from bench.conversation import Segment, alexa_clips, build  # noqa: E402
from edge.audio.wavio import write_wav  # noqa: E402


def edge(*args):
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "edge", *args], cwd=ROOT, env=environment, capture_output=True,
                          text=True, timeout=STARTUP_SECONDS)


def test_casting_needs_nothing_beyond_the_runtime_install():
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {entry.split(">")[0].split("=")[0].split(";")[0].strip() for entry in dependencies}
    assert {"zeroconf", "aiohttp", "markdown-it-py"} <= names


def shopping_conversation(tmp_path):
    from edge.core.settings import TtsSettings
    from edge.tts.piper import PiperTts

    tts = PiperTts(TtsSettings())
    requests = []
    for text in ("Put milk on my shopping list.", "What is on my shopping list?"):
        spoken = tts.synthesize_all(text)  # int16 at the voice's rate
        samples = spoken.samples.astype(np.float32) / 32768.0
        requests.append(soxr.resample(samples, spoken.sample_rate, 16000).astype(np.float32))
    wakes = alexa_clips(2)
    # the first reply may ask "anything else?": wait out its follow-up window (8 s) before the wake word
    audio, _ = build([Segment(wakes[0], requests[0], pause_after_seconds=12.0), Segment(wakes[1], requests[1])])
    path = tmp_path / "shopping.wav"
    write_wav(path, (audio * 32767).astype(np.int16), 16000)
    return path


def test_edge_run_casts_a_replys_card_to_the_paired_screen(tmp_path):
    ensure_whisper_onnx()
    recording = shopping_conversation(tmp_path)
    name = unique("Kitchen TV")
    companion = CompanionProcess(tmp_path / "screen", name, "kitchen")
    try:
        paired = edge("cast", "pair", name, companion.code, "--interface", LOOPBACK, "--state-dir", str(tmp_path / "speaker"))
        assert paired.returncode == 0, paired.stderr
        ran = edge("run", "--input", str(recording), "--json", "--out-dir", str(tmp_path / "out"), "--interface", LOOPBACK,
                   "--set", f"cast.state_dir={tmp_path / 'speaker'}", "--set", "cast.browse_chromecast=false",
                   "--set", f"skills.database_path={tmp_path / 'db.sqlite3'}")
        assert ran.returncode == 0, ran.stderr
        assert "screen casting is off" not in ran.stderr
        traces = [json.loads(line) for line in ran.stdout.splitlines() if line.startswith("{")]
        assert [t.get("intent") for t in traces] == ["lists_createoradd", "lists_query"], traces
        card = traces[1].get("card")
        assert card, json.dumps(traces)
        assert card["title"] == "Shopping list" and (card["cast"]["status"], card["cast"]["screen"]) == ("delivered", name)
    finally:
        companion.stop()
