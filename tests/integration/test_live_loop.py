"""The live loop on recorded conversations: wake word → VAD → ASR → turn → streamed reply."""

import json
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # bench/ builds the conversations

from helpers.processes import STARTUP_SECONDS  # noqa: E402
from helpers.whisper_onnx_fixture import ensure_whisper_onnx  # noqa: E402

from bench.conversation import Segment, alexa_clips, build  # noqa: E402
from edge.audio.files import FileSink, FileSource  # noqa: E402
from edge.audio.wavio import write_wav  # noqa: E402
from edge.core.settings import load_settings  # noqa: E402
from edge.runtime.demo import demo_turns  # noqa: E402


@pytest.fixture(scope="module")
def loop(tmp_path_factory):
    from edge.runtime.live import LiveLoop

    ensure_whisper_onnx()
    database = tmp_path_factory.mktemp("live") / "edge.sqlite3"
    settings = load_settings(environ={}, overrides={"skills.database_path": str(database), "asr.engine": "onnx-whisper"})
    live = LiveLoop.load(settings)
    yield live
    live.close()


def recording(tmp_path, segments, name="conversation.wav", rate=16000, channels=1):
    audio, ends = build(segments)
    path = tmp_path / name
    if rate == 16000 and channels == 1:
        write_wav(path, (audio * 32767).astype(np.int16), 16000)
    else:
        import soxr

        resampled = (soxr.resample(audio, 16000, rate) * 32767).astype("<i2")
        with wave.open(str(path), "wb") as writer:
            writer.setnchannels(channels), writer.setsampwidth(2), writer.setframerate(rate)
            writer.writeframes(np.repeat(resampled, channels).tobytes())
    return path, ends


def serve(loop, path, out=None):
    loop.activation.reset()
    sink = FileSink(out)
    return [trace.to_dict() for trace in loop.run(FileSource(path), sink)], sink


def test_three_wake_word_requests_in_noise_give_exactly_three_turns(loop, tmp_path):
    turns = demo_turns()
    wakes = alexa_clips(3)
    path, ends = recording(tmp_path, [Segment(wakes[0], turns[0].wav), Segment(wakes[1], turns[2].wav),
                                      Segment(wakes[2], turns[4].wav)])
    traces, sink = serve(loop, path, tmp_path / "replies")
    assert [t["intent"] for t in traces] == ["datetime_query", "qa_maths", "datetime_query"]
    assert "1048996" in traces[1]["reply"]
    for trace, end in zip(traces, ends, strict=True):
        assert trace["live"]["trigger"] == "alexa"
        assert set(trace["timestamps_ms"]) >= {"end_of_speech", "asr_done", "nlu_done", "first_reply_audio"}
        assert end - 0.6 < trace["live"]["speech_end_s"] < end + 0.3
        assert trace["live"]["end_of_speech_detected_s"] == pytest.approx(trace["live"]["speech_end_s"] + 0.5, abs=0.15)
    assert sorted(p.name for p in (tmp_path / "replies").iterdir()) == ["reply-01.wav", "reply-02.wav", "reply-03.wav"]
    assert all(reply.stopped_at is None for reply in sink.replies)


def test_requests_without_the_wake_word_give_no_turn(loop, tmp_path):
    turns = demo_turns()
    path, _ = recording(tmp_path, [Segment(None, turns[0].wav), Segment(None, turns[2].wav)])
    traces, sink = serve(loop, path)
    assert traces == [] and sink.replies == []


def test_wake_word_during_a_reply_stops_it_and_starts_a_request(loop, tmp_path):
    turns = demo_turns()
    wakes = alexa_clips(2, start=3)
    path, _ = recording(tmp_path, [Segment(wakes[0], turns[2].wav, pause_after_seconds=0.8),
                                   Segment(wakes[1], turns[0].wav)])
    traces, sink = serve(loop, path)
    assert [t["intent"] for t in traces] == ["qa_maths", "datetime_query"]
    assert traces[1]["live"]["trigger"] == "barge-in"
    first = sink.replies[0]
    assert first.stopped_at is not None and first.ends_at - first.started_at < first.seconds


def test_a_recording_at_44_1_khz_stereo_is_resampled(loop, tmp_path):
    path, _ = recording(tmp_path, [Segment(alexa_clips(1, start=5)[0], demo_turns()[3].wav)], rate=44100, channels=2)
    traces, _ = serve(loop, path)
    assert [t["intent"] for t in traces] == ["alarm_query"]


def test_silent_input_gives_no_turn(loop, tmp_path):
    path = tmp_path / "silence.wav"
    write_wav(path, np.zeros(16000 * 3, np.int16), 16000)
    traces, _ = serve(loop, path)
    assert traces == []


def test_edge_run_input_runs_the_loop_over_a_recording(tmp_path):
    ensure_whisper_onnx()
    path, _ = recording(tmp_path, [Segment(alexa_clips(1, start=7)[0], demo_turns()[4].wav)])
    out = tmp_path / "out"
    command = [sys.executable, "-m", "edge", "run", "--input", str(path), "--json", "--out-dir", str(out), "--no-cast",
               "--set", f"skills.database_path={tmp_path / 'db.sqlite3'}", "--set", "asr.engine=onnx-whisper"]
    completed = subprocess.run(command, capture_output=True, timeout=STARTUP_SECONDS, cwd=ROOT)
    assert completed.returncode == 0, completed.stderr.decode()
    (trace,) = [json.loads(line) for line in completed.stdout.decode().splitlines() if line.strip()]
    assert trace["intent"] == "datetime_query" and trace["live"]["trigger"] == "alexa"
    assert (out / "reply-01.wav").is_file()


def test_edge_run_input_with_a_file_that_is_not_audio(tmp_path):
    bad = tmp_path / "notes.wav"
    bad.write_text("not audio")
    completed = subprocess.run([sys.executable, "-m", "edge", "run", "--input", str(bad), "--no-cast"], capture_output=True,
                               timeout=STARTUP_SECONDS, cwd=ROOT)
    assert completed.returncode == 2
    assert b"not a readable audio file" in completed.stderr and b"Traceback" not in completed.stderr
