"""Wake word: the bundled openWakeWord "alexa" on real recordings, refractory period, push-to-talk."""

from pathlib import Path

import numpy as np
import pytest

from edge.audio.stream import to_int16
from edge.audio.wavio import read_request_audio
from edge.core.settings import WakeSettings
from edge.listen.wake import PushToTalk, WakeWordDetector, WakeWordError

WWB = Path(__file__).resolve().parents[3] / "shared" / "data" / "wakeword" / "picovoice_wwb"
SILENCE = np.zeros(16000, np.int16)


def detections(detector, samples):
    return [d for start in range(0, len(samples), 1280) if (d := detector.process(samples[start : start + 1280]))]


def clip(path):
    return to_int16(read_request_audio(path).samples)


@pytest.fixture(scope="module")
def alexa():
    return WakeWordDetector(WakeSettings(model="alexa"))


def test_real_alexa_recordings_are_detected_once_each(alexa):
    paths = sorted((WWB / "alexa").glob("*.flac"))[:3]
    stream = np.concatenate([part for path in paths for part in (clip(path), SILENCE, SILENCE, SILENCE)])
    found = detections(alexa, stream)
    assert len(found) == 3
    assert all(d.name == "alexa" and d.probability >= 0.5 for d in found)
    assert found[0].event().name == "alexa" and found[0].event().score >= 0.5
    starts = np.cumsum([0] + [len(clip(p)) / 16000 + 3 for p in paths])
    for detection, start in zip(found, starts, strict=False):
        assert start < detection.at_seconds < start + 4.0


def test_other_keywords_do_not_wake_it(alexa):
    alexa.reset()
    paths = sorted((WWB / "computer").glob("*.wav"))[:3] + sorted((WWB / "snowboy").glob("*.wav"))[:3]
    stream = np.concatenate([part for path in paths for part in (clip(path), SILENCE)])
    assert detections(alexa, stream) == []


def test_refractory_period_merges_a_repeated_wake_word():
    detector = WakeWordDetector(WakeSettings(model="alexa", refractory_seconds=30.0))
    word = clip(sorted((WWB / "alexa").glob("*.flac"))[0])
    assert len(detections(detector, np.concatenate([word, SILENCE, word, SILENCE]))) == 1


def test_unknown_model_says_which_exist():
    with pytest.raises(WakeWordError, match="hey_jarvis"):
        WakeWordDetector(WakeSettings(model="hey_computer"))


def test_push_to_talk_fires_on_the_next_frame():
    button = PushToTalk()
    assert button.process(SILENCE[:1280]) is None
    button.press()
    detection = button.process(SILENCE[:1280])
    assert detection is not None and detection.name == "push-to-talk" and detection.at_seconds == pytest.approx(0.16)
    assert button.process(SILENCE[:1280]) is None
