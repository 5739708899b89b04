"""The live loop with music: the reply ducks the music (measured on the samples that reached the
music sink), and "stop" without the wake word stops the music, or the reply when the speaker is
talking. Real parts: the PyAV player on a FLAC made here, Silero VAD, the bundled Whisper for the
stop word and the bundled Piper voice saying it; the turn is a stand-in (tests/integration runs
the real one)."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from helpers.media_files import write_tone

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.stop_word import clean_take, place, runtime_vocabulary  # noqa: E402
from edge.asr.factory import create_asr  # noqa: E402
from edge.audio.files import FileSink  # noqa: E402
from edge.audio.output import MemoryOutput  # noqa: E402
from edge.audio.player import AvPlayer  # noqa: E402
from edge.audio.stream import FrameSource  # noqa: E402
from edge.audio.wavio import read_request_audio  # noqa: E402
from edge.core.settings import AsrSettings, MediaSettings, Settings, VadSettings  # noqa: E402
from edge.core.stages import MediaItem, PlayerState  # noqa: E402
from edge.core.trace import TurnTrace  # noqa: E402
from edge.listen.vad import SileroVad  # noqa: E402
from edge.listen.wake import PushToTalk  # noqa: E402
from edge.runtime.demo import demo_turns  # noqa: E402
from edge.runtime.live import LiveLoop  # noqa: E402
from edge.runtime.turn import TurnResult  # noqa: E402
from edge.tts.piper import SpeechAudio  # noqa: E402

RATE = 48000


class _QuietAlerts:
    def poll(self, now=None):
        return []


class StandInTurn:
    """Answers every request with `reply_seconds` of a quiet voice; transcribes with the real Whisper."""

    def __init__(self, asr, reply_seconds: float = 0.0):
        self.asr, self.reply_seconds = asr, reply_seconds
        self.interrupted = threading.Event()
        self.turns = 0

    def transcribe(self, samples, sample_rate=16000):
        return self.asr.transcribe(samples, sample_rate)

    def run_audio(self, audio, session="local", area="", on_audio=None):
        self.turns += 1
        if on_audio is not None:
            on_audio(SpeechAudio(np.full(int(self.reply_seconds * 22050), 300, np.int16), 22050))
        return TurnResult(trace=TurnTrace(session=session, transcript="...", reply="A long answer."))

    def interrupt(self, session="local"):
        self.interrupted.set()

    def alert_scheduler(self, announce):
        return _QuietAlerts()

    def close(self):
        pass


class PacedSource(FrameSource):
    """Frames at `speed` times real time (the music plays in real time too), pressing the button at `press`."""

    def __init__(self, samples: np.ndarray, speed: float, button: PushToTalk | None = None, press: float | None = None):
        self.pcm = (np.clip(samples, -1, 1) * 32767).astype(np.int16)
        self.speed, self.button, self.press = speed, button, press

    def frames(self):
        began = time.monotonic()
        for index, start in enumerate(range(0, len(self.pcm), 1280)):
            if self.press is not None and start <= self.press * 16000 < start + 1280:
                self.button.press()
            due = began + index * 0.08 / self.speed
            time.sleep(max(0.0, due - time.monotonic()))  # a microphone delivers frames at its own pace
            yield self.pcm[start : start + 1280]


@pytest.fixture(scope="module")
def vad():
    return SileroVad(VadSettings())


@pytest.fixture(scope="module")
def asr():
    return create_asr(AsrSettings(), runtime_vocabulary())


@pytest.fixture
def music(tmp_path):
    def start(speed: float) -> AvPlayer:
        player = AvPlayer(MediaSettings(sample_rate=RATE), MemoryOutput(RATE, speed=speed))
        player.set_volume(10, muted=False)
        player.play([MediaItem(str(write_tone(tmp_path / "song.flac", seconds=40.0, frequency=1000.0)), "Song")])
        assert player.output.wait_for(RATE // 10, 30.0)
        made.append(player)
        return player

    made = []
    yield start
    for player in made:
        player.close()


def test_stop_without_the_wake_word_stops_the_music(vad, asr, music):
    player = music(speed=1.0)
    stop = clean_take("stop the music", lambda samples: asr.transcribe(samples).text, through_listener=True)
    audio, _ = place(stop, "noise", lead=1.0, tail=1.0)
    loop = LiveLoop(Settings(), StandInTurn(asr), PushToTalk(), vad, media=player)
    assert loop.run(PacedSource(audio, speed=4.0), FileSink(None)) == []  # no turn: nobody said the wake word
    assert [heard.word for heard in loop.playback.heard] == ["stop the music"], loop.playback.stop.last_transcript
    assert player.now_playing() is None and player.state is PlayerState.STOPPED


def test_the_reply_ducks_the_music_and_stop_ends_the_reply_not_the_music(vad, asr, music):
    speech = read_request_audio(demo_turns()[0].wav, 16000).samples
    gap = np.zeros(int(2.0 * 16000), np.float32)
    heard_as = []
    for _ in range(3):  # Whisper hears a borderline take as "Equine" now and then (bench/stop_word.py counts those)
        stop = clean_take("be quiet", lambda samples: asr.transcribe(samples).text, through_listener=True)
        audio, _ = place(np.concatenate([speech, gap, stop]), "noise", lead=0.5, tail=3.0)
        player = music(speed=2.0)  # a fresh player each try: a missed stop leaves the last one ducked
        ducks: list[tuple[float, bool]] = []
        player.duck = lambda on, ducks=ducks, duck=player.duck: (ducks.append((time.monotonic(), on)), duck(on))  # record when, keep what it does
        turn = StandInTurn(asr, reply_seconds=8.0)
        button = PushToTalk()
        sink = FileSink(None)
        loop = LiveLoop(Settings(), turn, button, vad, media=player)
        traces = loop.run(PacedSource(audio, speed=2.0, button=button, press=0.2), sink)
        assert len(traces) == 1, traces
        if loop.playback.heard:
            break
        heard_as.append(loop.playback.stop.last_transcript)
        player.close()
    assert [heard.word for heard in loop.playback.heard] == ["be quiet"], heard_as
    assert sink.replies[0].stopped_at is not None and turn.interrupted.is_set()  # the reply was cut short
    assert player.now_playing().state is PlayerState.PLAYING  # the music goes on
    assert [on for _, on in ducks] == [True, False]  # ducked from the request until the reply stopped
    ducked_from, ducked_to = ducks[0][0] + 0.2, ducks[1][0]
    before = [block for at, block in player.output.blocks if at < ducks[0][0]]
    during = [block for at, block in player.output.blocks if ducked_from < at < ducked_to]
    after = [block for at, block in player.output.blocks if at > ducked_to + 0.2]
    level = lambda blocks: 20 * np.log10(np.sqrt(np.mean(np.concatenate(blocks).astype(np.float64) ** 2)))  # noqa: E731
    assert len(during) > 10 and after
    assert level(during) - level(before) == pytest.approx(MediaSettings().duck_db, abs=0.3)
    assert level(after) - level(before) == pytest.approx(0.0, abs=0.3)
