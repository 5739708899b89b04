"""Hearing "stop" without the wake word: Silero VAD bursts through the bundled Whisper.

Stop words are spoken by the bundled Piper voice (no human recordings of them are on this
machine); the speech that must NOT stop anything is real: recorded "alexa" wake words and the
English ASR test clips (LibriSpeech, JFK), plus the demo requests. bench/stop_word.py measures
the rates on many more clips; these are the behaviours.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # bench/ mixes the clips into noise and music

from bench.conversation import DATA  # noqa: E402
from bench.stop_word import clean_take, listen, place, runtime_vocabulary  # noqa: E402
from edge.asr.factory import create_asr  # noqa: E402
from edge.audio.wavio import read_request_audio  # noqa: E402
from edge.core.settings import AsrSettings, StopSettings, VadSettings  # noqa: E402
from edge.listen.stop import StopListener, match_stop, stop_phrases  # noqa: E402
from edge.listen.vad import SileroVad  # noqa: E402
from edge.runtime.demo import demo_turns  # noqa: E402


@pytest.fixture(scope="module")
def asr():
    return create_asr(AsrSettings(), runtime_vocabulary())


@pytest.fixture(scope="module")
def listener(asr):
    return StopListener(StopSettings(), SileroVad(VadSettings()).stream(), lambda samples: asr.transcribe(samples).text)


def test_only_a_whole_stop_word_counts():
    phrases = stop_phrases(StopSettings().words)
    assert match_stop("Stop.", phrases) == "stop"
    assert match_stop("Stop, stop!", phrases) == "stop"
    assert match_stop("Stop it.", phrases) == "stop it"
    assert match_stop("Be quiet!", phrases) == "be quiet"
    assert match_stop("Don't stop the music.", phrases) is None
    assert match_stop("Stop by the shop later.", phrases) is None
    assert match_stop("", phrases) is None and match_stop("Alexa.", phrases) is None


TAKES = 6  # Piper's takes are randomised, and Whisper misses some over a bed (bench/stop_word.py: ~85 % heard)


@pytest.mark.parametrize("background", ["noise", "music"])
def test_a_spoken_stop_word_is_heard_soon_after_it_ends(listener, asr, background):
    for text in ("be quiet", "stop the music"):
        heard_takes = []
        for _ in range(TAKES):  # takes Whisper hears on their own, placed in the bed
            audio, speech_end = place(clean_take(text, lambda samples: asr.transcribe(samples).text), background)
            heard = listen(listener, audio)
            if heard is None:
                continue  # missed over the bed: bench/stop_word.py counts these; this test is about when
            assert heard.ended_at_seconds == pytest.approx(speech_end, abs=0.15)
            # decided once stop.silence_seconds of silence followed the word (plus one 80 ms frame)
            assert heard.decided_at_seconds - heard.ended_at_seconds < StopSettings().silence_seconds + 0.12
            heard_takes.append(heard.transcript)
        # a rate far under the bench's (one in three, against ~85 %) means the listener, not the take, is broken
        assert len(heard_takes) >= 2, f"{text!r} over {background}: heard {len(heard_takes)}/{TAKES} takes"


def test_real_speech_does_not_stop_anything(listener):
    clips = sorted((DATA / "wakeword" / "picovoice_wwb" / "alexa").glob("*.flac"))[:20]
    long_clips = sorted((DATA / "asr_testclips" / "en").glob("*.*"))
    if not clips or not long_clips:
        pytest.skip(f"the real speech clips are not in {DATA} (set EDGE_DATA_DIR)")
    transcribed = listener.transcribed
    for path in long_clips:  # 5.9-11 s of talk: only a phrase between two pauses is short enough to be listened to
        assert listen(listener, place(read_request_audio(path, 16000).samples, "music")[0]) is None
    for path in clips + [turn.wav for turn in demo_turns()]:
        assert listen(listener, place(read_request_audio(path, 16000).samples, "noise")[0]) is None, path
    assert listener.transcribed > transcribed  # the short ones were listened to, and were not stop words


def test_speech_longer_than_a_stop_word_is_not_transcribed():
    calls = []
    stop = StopListener(StopSettings(max_seconds=0.5), SileroVad(VadSettings()).stream(),
                        lambda samples: calls.append(len(samples)) or "stop")
    speech = read_request_audio(demo_turns()[0].wav, 16000).samples  # "what time is it", about 1 s
    assert listen(stop, place(speech, "noise")[0]) is None and calls == []
    assert listen(StopListener(StopSettings(), SileroVad(VadSettings()).stream(), lambda samples: "Stop."),
                  place(np.zeros(16000, np.float32), "noise")[0]) is None  # no speech, nothing asked
