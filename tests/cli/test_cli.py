"""`edge ask` and `edge run` as a user runs them: real processes, real models."""

import json
import subprocess
import sys
import wave

import numpy as np
import pytest
from helpers.processes import STARTUP_SECONDS

from edge.audio.wavio import wav_bytes
from edge.runtime.demo import demo_turns


def edge(*args, database, timeout=STARTUP_SECONDS):
    command = [sys.executable, "-m", "edge", *args, "--set", f"skills.database_path={database}"]
    return subprocess.run(command, capture_output=True, timeout=timeout)


@pytest.fixture
def database(tmp_path):
    return tmp_path / "edge.sqlite3"


def json_lines(completed):
    return [json.loads(line) for line in completed.stdout.decode().splitlines() if line.strip()]


def test_ask_text_prints_one_trace_line(database):
    completed = edge("ask", "set an alarm for seven am tomorrow", "--json", database=database)
    assert completed.returncode == 0, completed.stderr.decode()
    (trace,) = json_lines(completed)
    assert trace["intent"] == "alarm_set"
    assert trace["route"] == "local"
    assert set(trace["stages_ms"]) >= {"nlu", "skill", "tts", "end_of_speech_to_first_audio"}


def test_ask_wav_writes_the_spoken_reply(database, tmp_path):
    out = tmp_path / "reply.wav"
    completed = edge("ask", "--wav", str(demo_turns()[2].wav), "--json", "--out", str(out), database=database)
    assert completed.returncode == 0, completed.stderr.decode()
    (trace,) = json_lines(completed)
    assert "1048996" in trace["reply"] and trace["reply_wav"] == str(out)
    with wave.open(str(out)) as reader:
        assert reader.getsampwidth() == 2 and reader.getnchannels() == 1
        assert reader.getnframes() / reader.getframerate() == pytest.approx(trace["reply_audio_seconds"], abs=0.01)


def test_batch_of_wavs_survives_bad_files(database, tmp_path):
    not_audio = tmp_path / "notes.txt"
    not_audio.write_text("hello")
    empty = tmp_path / "empty.wav"
    empty.write_bytes(wav_bytes(np.zeros(0, np.int16), 16000))
    tone = (np.sin(np.arange(8000 * 2) / 3) * 8000).astype(np.int16)
    stereo_8k = tmp_path / "stereo8k.wav"
    with wave.open(str(stereo_8k), "wb") as writer:
        writer.setnchannels(2), writer.setsampwidth(2), writer.setframerate(8000)
        writer.writeframes(np.repeat(tone, 2).astype("<i2").tobytes())
    batch = tmp_path / "batch.txt"
    lines = [str(not_audio), str(empty), str(stereo_8k), str(tmp_path / "missing.wav"), str(demo_turns()[0].wav)]
    batch.write_text("\n".join(lines) + "\n")
    completed = edge("ask", "--wav", "--batch", str(batch), "--json", "--out", str(tmp_path / "replies"), database=database)
    assert completed.returncode == 0, completed.stderr.decode()
    traces = json_lines(completed)
    assert len(traces) == 5
    assert "not a readable audio file" in traces[0]["error"]["text"]
    assert "holds no audio samples" in traces[1]["error"]["text"]
    assert "error" not in traces[2]  # 8 kHz stereo is resampled and mixed down
    assert "no such file" in traces[3]["error"]["text"]
    assert traces[4]["intent"] == "datetime_query"
    assert len(list((tmp_path / "replies").glob("reply-*.wav"))) == 5
    assert b"Traceback" not in completed.stderr


def test_batch_text_with_a_non_utf8_line(database, tmp_path):
    batch = tmp_path / "requests.txt"
    batch.write_bytes(b"what time is it\n\xff\xfe broken \xc3\n# a comment\n\nwhat is five plus three\n")
    completed = edge("ask", "--batch", str(batch), "--json", database=database)
    assert completed.returncode == 0, completed.stderr.decode()
    traces = json_lines(completed)
    assert [trace.get("intent") for trace in traces] == ["datetime_query", None, "qa_maths"]
    assert traces[1]["error"]["text"].endswith("line 2 is not valid UTF-8")
    assert traces[2]["reply"].rstrip(".").endswith("8")


def test_single_bad_input_is_one_line_and_a_nonzero_exit(database, tmp_path):
    not_audio = tmp_path / "song.wav"
    not_audio.write_text("definitely not audio")
    completed = edge("ask", "--wav", str(not_audio), database=database)
    assert completed.returncode == 1
    stderr = completed.stderr.decode().strip().splitlines()
    assert stderr == [f"edge: {not_audio} is not a readable audio file (WAV, FLAC or OGG expected)"]


def test_non_utf8_argument_is_refused_clearly(database):
    command = [sys.executable.encode(), b"-m", b"edge", b"ask", b"caf\xe9 \xff", b"--set", f"skills.database_path={database}".encode()]
    completed = subprocess.run(command, capture_output=True, timeout=STARTUP_SECONDS)
    assert completed.returncode == 1
    assert completed.stderr.decode().strip() == "edge: the request text is not valid UTF-8"


def test_usage_errors(database):
    assert edge("ask", database=database).returncode == 2
    bad_setting = edge("ask", "hi", "--set", "asr.beem=1", database=database)
    assert bad_setting.returncode == 2 and b"unknown setting asr.beem" in bad_setting.stderr


def test_run_plays_the_demo_conversation(database, tmp_path):
    out_dir = tmp_path / "out"
    # the screen caster starts too (mDNS on loopback only): no screen is paired, so nothing is cast
    completed = edge("run", "--demo", "--json", "--out-dir", str(out_dir), "--interface", "127.0.0.1",
                     "--set", f"cast.state_dir={tmp_path / 'cast'}", database=database)
    assert completed.returncode == 0, completed.stderr.decode()
    traces = json_lines(completed)
    assert [trace["intent"] for trace in traces] == [turn.intent for turn in demo_turns()]
    assert len(list(out_dir.glob("reply-*.wav"))) == len(demo_turns())
