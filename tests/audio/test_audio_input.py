import wave

import numpy as np
import pytest
import soundfile

from edge.audio.wavio import AudioInputError, read_request_audio, wav_bytes
from edge.runtime.demo import demo_turns


def write_pcm(path, samples, rate, channels=1):
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(np.asarray(samples, dtype="<i2").tobytes())
    return path


def test_demo_wav_loads_as_16k_mono_float():
    audio = read_request_audio(demo_turns()[0].wav)
    assert audio.sample_rate == 16000 and audio.samples.dtype == np.float32
    assert 1.0 < audio.seconds < 3.0 and not audio.truncated


def test_8khz_stereo_is_mixed_down_and_resampled(tmp_path):
    tone = (np.sin(2 * np.pi * 440 * np.arange(8000) / 8000) * 10000).astype(np.int16)
    stereo = np.stack([tone, tone], axis=1).reshape(-1)
    audio = read_request_audio(write_pcm(tmp_path / "stereo8k.wav", stereo, 8000, channels=2))
    assert audio.source_rate == 8000 and audio.source_channels == 2
    assert len(audio.samples) == 16000
    spectrum = np.abs(np.fft.rfft(audio.samples))
    assert abs(np.argmax(spectrum) * 16000 / len(audio.samples) - 440) < 2


def test_long_input_is_capped_without_reading_it_all(tmp_path):
    twenty_minutes = tmp_path / "long.wav"
    with soundfile.SoundFile(str(twenty_minutes), "w", samplerate=16000, channels=1, subtype="PCM_16") as sink:
        block = np.zeros(16000 * 60, dtype=np.int16)
        for _ in range(20):
            sink.write(block)
    audio = read_request_audio(twenty_minutes, max_seconds=30)
    assert audio.truncated and audio.seconds == pytest.approx(30.0)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"this is a text file, not audio\n", "is not a readable audio file"),
        (wav_bytes(np.zeros(0, np.int16), 16000), "holds no audio samples"),
        (wav_bytes(np.zeros(80, np.int16), 16000), "too short"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", "is not a readable audio file"),
        (b"", "is not a readable audio file"),
    ],
    ids=["text", "empty-wav", "five-ms", "truncated-header", "zero-bytes"],
)
def test_bad_files_raise_one_clear_error(tmp_path, content, message):
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(AudioInputError, match=message):
        read_request_audio(path)


def test_missing_file(tmp_path):
    with pytest.raises(AudioInputError, match="no such file"):
        read_request_audio(tmp_path / "nope.wav")
