"""Silero VAD on onnxruntime and the end-of-request decision (Endpointer)."""

import numpy as np
import pytest

from edge.audio.stream import to_int16
from edge.audio.wavio import read_request_audio
from edge.core.settings import VadSettings
from edge.listen.vad import Endpoint, Endpointer, SileroVad, VadError
from edge.runtime.demo import demo_turns


@pytest.fixture(scope="module")
def vad():
    return SileroVad(VadSettings())


def run(endpointer, samples):
    for start in range(0, len(samples), 1280):
        state = endpointer.feed(samples[start : start + 1280])
        if state in (Endpoint.ENDED, Endpoint.CAPPED, Endpoint.TIMEOUT):
            return state
    return endpointer.state


def request(seconds_before=0.5, seconds_after=1.5, gain=1.0):
    speech = read_request_audio(demo_turns()[1].wav).samples * gain
    return to_int16(np.concatenate([np.zeros(int(seconds_before * 16000)), speech, np.zeros(int(seconds_after * 16000))]))


def test_request_ends_after_the_silence_window(vad):
    settings = VadSettings(silence_seconds=0.5)
    endpointer = Endpointer(settings, vad.stream())
    assert run(endpointer, request()) is Endpoint.ENDED
    speech = read_request_audio(demo_turns()[1].wav).seconds
    assert 0.5 <= endpointer.speech_start < 1.0
    assert endpointer.speech_end <= 0.5 + speech + 0.1
    assert endpointer.heard_seconds - endpointer.speech_end == pytest.approx(0.5, abs=0.04)


def test_nobody_speaks_after_the_wake_word(vad):
    endpointer = Endpointer(VadSettings(listen_timeout_seconds=2.0), vad.stream())
    assert run(endpointer, np.zeros(16000 * 5, np.int16)) is Endpoint.TIMEOUT
    assert endpointer.heard_seconds == pytest.approx(2.0, abs=0.05)


def test_a_request_that_never_stops_is_capped(vad):
    talk = np.concatenate([read_request_audio(turn.wav).samples for turn in demo_turns()] * 3)
    endpointer = Endpointer(VadSettings(max_request_seconds=6.0, silence_seconds=1.5), vad.stream())
    assert run(endpointer, to_int16(talk)) is Endpoint.CAPPED
    assert endpointer.heard_seconds - endpointer.speech_start == pytest.approx(6.0, abs=0.05)


def test_clipped_loud_speech_still_ends(vad):
    endpointer = Endpointer(VadSettings(), vad.stream())
    loud = request(gain=20.0)  # clipped at full scale almost everywhere
    assert np.mean(np.abs(loud) >= 32767) > 0.1
    assert run(endpointer, loud) is Endpoint.ENDED


def test_odd_frame_sizes_give_the_same_windows(vad):
    samples = request()
    whole = vad.stream().feed(samples)
    pieces = vad.stream()
    odd = [p for start in range(0, len(samples), 777) for p in pieces.feed(samples[start : start + 777])]
    assert len(odd) == len(whole) == len(samples) // 512 - 0
    assert np.allclose(odd, whole, atol=1e-4)


def test_missing_model_says_so(tmp_path):
    with pytest.raises(VadError, match="does not exist"):
        SileroVad(VadSettings(model_path=str(tmp_path / "nope.onnx")))
