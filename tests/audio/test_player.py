"""The music player on real audio: files encoded in the test with PyAV (mp3, flac, ogg/opus) and an
endless MP3 station served over HTTP on 127.0.0.1, decoded by PyAV into a clocked memory sink
(paced like a sound card, 4x real time) that keeps every sample that reached it."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.media_files import RadioServer, tone, write_tone
from helpers.replay_http import closed_port

from edge.audio.output import MemoryOutput
from edge.audio.player import AvPlayer, volume_gain
from edge.core.settings import MediaSettings
from edge.core.stages import MediaError, MediaItem, MediaPlayer, PlayerState

RATE = 48000
LIMIT = 30.0  # seconds: a bound on a hang, not a timing


def rms_db(samples: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(np.square(samples.astype(np.float64)))) + 1e-12))


def peak_hz(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.argmax(spectrum) * RATE / len(samples))


@pytest.fixture
def player():
    output = MemoryOutput(RATE, speed=4.0)
    made = AvPlayer(MediaSettings(sample_rate=RATE, block_samples=2048), output)
    made.set_volume(10, muted=False)
    yield made
    made.close()


def wait_more(player: AvPlayer, samples: int) -> int:
    """Block until `samples` more have reached the sink; the sink's total then."""
    target = player.output.total + samples
    assert player.output.wait_for(target, LIMIT), f"the sink got {player.output.total} samples, wanted {target}"
    return player.output.total


def test_the_player_is_the_core_protocol(player):
    assert isinstance(player, MediaPlayer)


@pytest.mark.parametrize("suffix", [".mp3", ".flac", ".ogg"])
def test_each_format_plays_into_the_sink(player, tmp_path, suffix):
    path = write_tone(tmp_path / f"tone{suffix}", seconds=1.5, frequency=660.0, title="Six Sixty", artist="Sines")
    playing = player.play([MediaItem(str(path))])
    assert playing.title == "Six Sixty by Sines" and playing.state is PlayerState.PLAYING
    wait_more(player, RATE)
    heard = player.output.samples()
    assert abs(peak_hz(heard[RATE // 4 : RATE]) - 660.0) < 5.0
    assert -10.0 < rms_db(heard[RATE // 4 : RATE]) < -8.0  # a 0.5 sine is -9 dBFS


def test_pause_holds_the_position_and_resume_continues_sample_exact(player, tmp_path):
    source = tone(3.0, 440.0, RATE)
    path = write_tone(tmp_path / "exact.flac", samples=source)
    player.play([MediaItem(str(path), "Exact")])
    wait_more(player, RATE // 2)
    assert player.pause()
    paused_at = player.now_playing().position_seconds
    written = player.output.total
    assert not player.output.wait_for(written + 2 * 2048 + 1, 0.3)  # nothing more while paused (at most one block in flight)
    assert player.now_playing().state is PlayerState.PAUSED
    assert player.resume()
    wait_more(player, RATE // 2)
    assert player.now_playing().position_seconds > paused_at
    heard = player.output.samples()
    # lossless at the output rate and full volume: the sink holds the file's samples, none skipped or repeated
    assert np.array_equal(heard, source[: len(heard)].astype(np.float32))
    assert player.output.wait_for(len(source), LIMIT)
    assert player.now_playing() is None or player.output.total == len(source)


def test_ducking_lowers_the_music_by_the_setting_and_brings_it_back(player, tmp_path):
    path = write_tone(tmp_path / "long.flac", seconds=6.0, frequency=1000.0)
    player.play([MediaItem(str(path))])
    start = wait_more(player, RATE // 2)
    full = rms_db(player.output.samples(start - RATE // 4)[: RATE // 4])
    player.duck(True)
    ducked_from = wait_more(player, 2048) + 2048  # after the block that ramps
    wait_more(player, RATE // 2)
    ducked = rms_db(player.output.samples(ducked_from)[: RATE // 4])
    player.duck(False)
    back_from = wait_more(player, 2048) + 2048
    wait_more(player, RATE // 2)
    back = rms_db(player.output.samples(back_from)[: RATE // 4])
    assert ducked - full == pytest.approx(player.settings.duck_db, abs=0.2)
    assert back - full == pytest.approx(0.0, abs=0.2)


def test_the_volume_sets_the_sink_gain_measurably(player, tmp_path):
    path = write_tone(tmp_path / "long.flac", seconds=6.0, frequency=1000.0)
    player.play([MediaItem(str(path))])
    levels = {}
    for level in (10, 7, 3):
        player.set_volume(level, muted=False)
        begin = wait_more(player, 2048) + 2048
        wait_more(player, RATE // 4)
        levels[level] = rms_db(player.output.samples(begin)[: RATE // 8])
    assert levels[7] - levels[10] == pytest.approx(-9.0, abs=0.2)  # 3 dB per step
    assert levels[3] - levels[10] == pytest.approx(-21.0, abs=0.2)
    player.set_volume(5, muted=True)
    begin = wait_more(player, 2048) + 2048
    wait_more(player, RATE // 8)
    assert not np.any(player.output.samples(begin)[: RATE // 16])
    assert volume_gain(0, False, 3.0) == 0.0 and volume_gain(10, False, 3.0) == 1.0


def test_next_moves_through_the_queue_and_stop_forgets_it(player, tmp_path):
    first = write_tone(tmp_path / "a.mp3", seconds=4.0, frequency=440.0, title="First")
    second = write_tone(tmp_path / "b.ogg", seconds=4.0, frequency=880.0, title="Second")
    player.play([MediaItem(str(first)), MediaItem(str(second))])
    wait_more(player, RATE // 4)
    playing = player.next()
    assert (playing.title, playing.index, playing.queued) == ("Second", 1, 2)
    begin = wait_more(player, 2048)
    wait_more(player, RATE // 2)
    assert abs(peak_hz(player.output.samples(begin)[: RATE // 4]) - 880.0) < 5.0
    assert player.next() is None and player.now_playing().title == "Second"  # nothing after it: it plays on
    assert player.stop() and player.now_playing() is None and not player.stop()
    assert not player.pause() and not player.resume()


def test_a_queue_plays_one_file_after_another_to_the_end(player, tmp_path):
    files = [write_tone(tmp_path / f"{index}.flac", seconds=0.5, frequency=300.0 + 100 * index) for index in range(3)]
    player.play([MediaItem(str(path)) for path in files])
    assert player.output.wait_for(3 * RATE // 2, LIMIT)
    heard = player.output.samples()
    assert [round(peak_hz(heard[i * RATE // 2 + 2000 : (i + 1) * RATE // 2 - 2000]) / 100) * 100 for i in range(3)] == \
        [300, 400, 500]


def test_internet_radio_streams_over_http(player, tmp_path):
    loop = write_tone(tmp_path / "loop.mp3", seconds=3.0, frequency=523.0)
    with RadioServer(loop, name="Test Radio") as radio:
        playing = player.play([MediaItem(radio.url, "Test Radio", "stream")])
        assert playing.title == "Test Radio" and radio.clients == 1
        wait_more(player, 4 * RATE)  # more than the loop: the station goes on
        assert abs(peak_hz(player.output.samples()[RATE : 2 * RATE]) - 523.0) < 5.0
        assert player.now_playing().position_seconds >= 4.0
        assert player.stop()
        stopped_at = player.output.total
        assert not player.output.wait_for(stopped_at + 2 * 2048 + 1, 0.3)


def test_what_cannot_be_played_is_an_error_that_says_so(player, tmp_path):
    broken = tmp_path / "broken.mp3"
    broken.write_bytes(b"this is not audio at all" * 100)
    with pytest.raises(MediaError, match="cannot open the file"):
        player.play([MediaItem(str(broken))])
    with pytest.raises(MediaError, match="cannot open the file"):
        player.play([MediaItem(str(tmp_path / "missing.flac"))])
    with pytest.raises(MediaError, match="cannot open the station"):
        player.play([MediaItem(f"http://127.0.0.1:{closed_port()}/stream", "Gone FM", "stream")])
    assert player.now_playing() is None
