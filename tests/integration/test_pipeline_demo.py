"""The whole on-device turn on the real bundled models, fed the committed demo WAVs."""

import io
import wave
from datetime import UTC, datetime

import numpy as np
import pytest

from edge.audio.wavio import resample, wav_bytes
from edge.core.events import Error, IntentResult, Reply, Transcript
from edge.core.settings import load_settings
from edge.runtime.demo import demo_turns
from edge.runtime.turn import Turn
from edge.skills.builtin.jokes import JOKES

FIXED_NOW = datetime(2026, 11, 29, 7, 5, tzinfo=UTC)


@pytest.fixture(scope="module")
def english_normalizer():
    normalizer = pytest.importorskip("whisper_normalizer.english", reason="pip install whisper-normalizer")
    return normalizer.EnglishTextNormalizer()


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    database = tmp_path_factory.mktemp("skills") / "edge.sqlite3"
    settings = load_settings(environ={}, overrides={"skills.database_path": str(database), "skills.timezone": "UTC"})
    loaded = Turn.load(settings, clock=lambda: FIXED_NOW)
    yield loaded
    loaded.close()


def reply_wav_facts(result):
    """Write the reply as a WAV file and read it back as any player would."""
    data = wav_bytes(result.reply_audio.samples, result.reply_audio.sample_rate)
    with wave.open(io.BytesIO(data)) as reader:
        return reader.getsampwidth(), reader.getnchannels(), reader.getnframes() / reader.getframerate()


@pytest.mark.parametrize("turn", demo_turns(), ids=lambda turn: turn.wav.stem)
def test_demo_turn_transcript_intent_and_reply_audio(pipeline, english_normalizer, turn):
    result = pipeline.run_wav(turn.wav)
    trace = result.trace.to_dict()
    assert "error" not in trace, trace.get("error")
    assert english_normalizer(trace["transcript"]) == english_normalizer(turn.text)
    assert trace["intent"] == turn.intent
    assert trace["route"] == "local"
    sample_width, channels, seconds = reply_wav_facts(result)
    assert (sample_width, channels) == (2, 1)
    # The bundled voice speaks about 50-60 ms per phoneme: the audio must fit the reply's text.
    expected_seconds = pipeline.phoneme_count(trace["reply"]) * 0.055
    assert 0.6 * expected_seconds < seconds < 1.6 * expected_seconds, (trace["reply"], seconds)
    assert seconds == pytest.approx(trace["reply_audio_seconds"], abs=0.01)
    for mark in ("end_of_speech", "asr_done", "nlu_done", "first_reply_audio"):
        assert mark in trace["timestamps_ms"]


def test_golden_event_sequence_and_trace_for_the_maths_turn(pipeline):
    maths = next(turn for turn in demo_turns() if turn.intent == "qa_maths")
    result = pipeline.run_wav(maths.wav)
    assert [type(event) for event in result.events] == [Transcript, IntentResult, Reply]
    assert result.trace.to_dict()["transcript"] == "What is 2 to the power of 20 plus 20 squared plus 20?"
    assert result.trace.to_dict()["skill"] == "calculator"
    assert "1048996" in result.trace.to_dict()["reply"]


def test_reply_audio_says_the_reply_text(pipeline, english_normalizer):
    result = pipeline.run_text("tell me a funny joke")
    assert result.trace.to_dict()["reply"] in JOKES  # told on the speaker itself, no cloud needed
    speech = result.reply_audio
    heard = pipeline.transcribe(resample(speech.samples.astype(np.float32) / 32768, speech.sample_rate, 16000))
    assert english_normalizer(heard.text) == english_normalizer(result.trace.to_dict()["reply"])


def test_a_bad_file_gives_an_error_turn_and_the_next_turn_still_works(pipeline, tmp_path):
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"\x00garbage" * 100)
    failed = pipeline.run_wav(junk)
    assert isinstance(failed.error, Error) and failed.error.code == "bad-audio"
    assert "is not a readable audio file" in failed.trace.to_dict()["error"]["text"]
    assert len(failed.reply_audio.samples) > 0  # the apology is spoken
    assert pipeline.run_wav(demo_turns()[0].wav).trace.to_dict()["intent"] == "datetime_query"


def test_silence_is_not_heard_rather_than_misunderstood(pipeline, tmp_path):
    silent = tmp_path / "silence.wav"
    silent.write_bytes(wav_bytes(np.zeros(16000 * 2, np.int16), 16000))
    trace = pipeline.run_wav(silent).trace.to_dict()
    assert "error" not in trace
    assert trace["transcript"] == ""
    assert trace["reply"] == "Sorry, I didn't catch that."
    assert "asr" not in trace["stages_ms"] or trace["stages_ms"]["asr"] < 50  # Whisper is not even asked
