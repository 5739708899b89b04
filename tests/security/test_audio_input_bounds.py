"""An audio file cannot make the speaker hold many times its size (low-severity list): FLAC of
silence compresses ~1000:1, and a 96 kHz, 8-channel one would decode to 60 MB of float32."""

import tracemalloc

import numpy as np
import pytest

soundfile = pytest.importorskip("soundfile")

from edge.audio.wavio import AudioInputError, read_request_audio  # noqa: E402


def _write(path, rate, channels, seconds, fmt):
    quiet = (np.random.default_rng(3).standard_normal((int(rate * seconds), channels)) * 1e-4).astype(np.float32)
    soundfile.write(str(path), quiet, rate, format=fmt)
    return path


def test_a_high_rate_many_channel_flac_is_read_in_bounded_memory(tmp_path):
    flac = _write(tmp_path / "big.flac", 96000, 8, 20.0, "FLAC")
    tracemalloc.start()
    try:
        audio = read_request_audio(flac, 16000, max_seconds=30.0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert audio.seconds == pytest.approx(20.0, abs=0.01)
    assert peak < 12 * 2**20, f"{peak / 2**20:.0f} MiB at peak for {flac.stat().st_size / 2**20:.1f} MiB of FLAC"


@pytest.mark.parametrize("rate, channels, message", [(384000, 1, "192000"), (16000, 12, "8 channels")])
def test_rates_and_channel_counts_beyond_the_caps_are_refused(tmp_path, rate, channels, message):
    wav = _write(tmp_path / "odd.wav", rate, channels, 0.5, "WAV")
    with pytest.raises(AudioInputError, match=message):
        read_request_audio(wav, 16000)
