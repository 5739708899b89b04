"""The live loop's parts without the big models: follow-up window, push-to-talk, streamed replies,
network source, and the sound-device path (real where a device exists, a fake unplugged one always)."""

import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from edge.audio.devices import MicrophoneSource, find_input_device, import_sounddevice
from edge.audio.files import FileSink
from edge.audio.network import NetworkSource
from edge.audio.stream import AudioDeviceError, FrameSource
from edge.audio.wavio import read_request_audio
from edge.core.settings import LiveSettings, Settings, VadSettings
from edge.core.trace import TurnTrace
from edge.listen.vad import SileroVad
from edge.listen.wake import PushToTalk
from edge.runtime.demo import demo_turns
from edge.runtime.live import LiveLoop
from edge.runtime.turn import TurnResult
from edge.tts.chunking import reply_pieces
from edge.tts.piper import SpeechAudio
from edge.tts.speech import SpokenReply

SPEECH = (read_request_audio(demo_turns()[0].wav).samples * 32767).astype(np.int16)
GAP = np.zeros(16000 * 2, np.int16)


class _QuietAlerts:
    """The loop polls alerts between requests; these tests set none."""

    def poll(self, now=None):
        return []


@dataclass
class FakeTurn:
    """Stands in for `Turn` to test the loop's mechanics without the big models (tests/test_live_loop.py
    runs the real one): canned replies, spoken through `SpokenReply` like the real turn speaks them."""

    voice: object
    replies: list[str]
    heard: list[float] = field(default_factory=list)
    interrupted: threading.Event = field(default_factory=threading.Event)

    def run_audio(self, audio, session="local", area="", on_audio=None):
        self.heard.append(audio.seconds)
        text = self.replies[len(self.heard) - 1]
        self.interrupted.clear()
        spoken = SpokenReply(self.voice, on_piece=on_audio, interrupted=self.interrupted)
        spoken.say(text, from_markdown=False)
        asks = text.endswith("?")
        trace = TurnTrace(session=session, transcript="...", reply=text, expects_follow_up=asks,
                          follow_up_seconds=5.0 if asks else 0.0)
        return TurnResult(trace=trace, reply_audio=spoken.audio())

    def interrupt(self, session="local"):
        self.interrupted.set()

    def alert_scheduler(self, announce):
        return _QuietAlerts()

    def close(self):
        pass


class FakeVoice:
    sample_rate = 22050

    def __init__(self):
        self.made: list[str] = []

    def synthesize(self, text):
        self.made.append(text)
        yield SpeechAudio(np.zeros(int(0.05 * len(text) * 22050), np.int16), 22050)


class ButtonSource(FrameSource):
    """Frames of `samples`; presses the push-to-talk button at the given sample offsets."""

    def __init__(self, samples, button, presses):
        self.samples, self.button, self.presses = samples, button, presses

    def frames(self):
        for start in range(0, len(self.samples), 1280):
            if any(start <= p < start + 1280 for p in self.presses):
                self.button.press()
            yield self.samples[start : start + 1280]


@pytest.fixture(scope="module")
def vad():
    return SileroVad(VadSettings())


def test_a_question_opens_the_follow_up_window_without_the_wake_word(vad):
    turn = FakeTurn(FakeVoice(), ["Which alarm?", "Done."])
    button = PushToTalk()
    loop = LiveLoop(Settings(), turn, button, vad)
    samples = np.concatenate([GAP, SPEECH, GAP, GAP, SPEECH, GAP, GAP])
    sink = FileSink(None)
    traces = loop.run(ButtonSource(samples, button, presses=[len(GAP) // 2]), sink)
    assert [t.live["trigger"] for t in traces] == ["push-to-talk", "follow-up"]
    assert [t.reply for t in traces] == ["Which alarm?", "Done."]
    assert sink.replies[1].started_at > sink.replies[0].ends_at  # the answer came after the question was heard


def test_without_a_press_push_to_talk_never_listens(vad):
    button = PushToTalk()
    loop = LiveLoop(Settings(), FakeTurn(FakeVoice(), []), button, vad)
    assert loop.run(ButtonSource(np.concatenate([GAP, SPEECH, GAP]), button, presses=[]), FileSink(None)) == []


def test_reply_audio_reaches_the_listener_before_later_pieces_are_made():
    voice = FakeVoice()
    heard_when = []
    interrupted = threading.Event()
    spoken = SpokenReply(voice, on_piece=lambda piece: heard_when.append(len(voice.made)), interrupted=interrupted)
    spoken.say("Today is Sunday, November 29, 2026. Anything else?", from_markdown=False)
    assert voice.made == ["Today is Sunday,", "November 29, 2026.", "Anything else?"]
    assert heard_when == [1, 2, 3]  # each piece was played as soon as it was made
    interrupted.set()
    assert not spoken.say("One. Two.", from_markdown=False)  # barge-in: nothing more is made
    assert len(heard_when) == 3


def test_reply_pieces_keep_short_sentences_whole():
    assert reply_pieces("It's 8:19 AM.") == ["It's 8:19 AM."]
    assert reply_pieces("2 to the power of 20 is 1048576.") == ["2 to the", "power of 20 is 1048576."]


def test_network_source_drops_the_oldest_frame_when_full():
    source = NetworkSource(max_frames=2)
    for value in (1, 2, 3):
        source.push(np.full(4, value, np.int16))
    source.finish()
    frames = list(source.frames())
    assert [int(f[0]) for f in frames] == [3] and source.dropped_frames == 2


_DEVICE_SCRIPT = """
import json, time
import numpy as np
from edge.audio.devices import MicrophoneSource, SpeakerSink, find_input_device
from edge.core.settings import LiveSettings
settings = LiveSettings(reconnect_attempts=1)
name = find_input_device(settings)
source = MicrophoneSource(settings)
frames = source.frames()
got = [next(frames) for _ in range(5)]
source.close()
sink = SpeakerSink(settings)
sink.begin(22050, 0.0)
sink.write(np.zeros(11025, np.int16))
sink.end()
started = time.monotonic()
while sink.playing(0.0) and time.monotonic() - started < 5:
    time.sleep(0.02)
print(json.dumps({"device": name, "frames": [[str(f.dtype), len(f)] for f in got],
                  "played_seconds": round(time.monotonic() - started, 2), "still_playing": sink.playing(0.0)}))
"""


def _run_device_script(environment):
    import json
    import subprocess
    import sys

    completed = subprocess.run([sys.executable, "-c", _DEVICE_SCRIPT], capture_output=True, text=True, timeout=60,
                               env=environment)
    if completed.returncode != 0:
        return None, completed.stderr.strip().splitlines()[-1]
    return json.loads(completed.stdout), ""


def test_sounddevice_microphone_and_speaker_on_a_real_device():
    """The real PortAudio path: this machine's default devices, or else ALSA's null device (silence
    in, audio discarded out), which needs only PortAudio and alsa-lib, not a sound card."""
    import os

    try:
        import_sounddevice()
    except AudioDeviceError as error:
        pytest.skip(f"cannot exercise sound devices here: {error}")
    try:
        find_input_device(LiveSettings())
        environment = dict(os.environ)
    except AudioDeviceError:
        alsa = Path("/usr/share/alsa/alsa.conf")
        if not alsa.is_file():
            pytest.skip("no sound device on this machine and no alsa-lib configuration for ALSA's null device")
        config = Path(tempfile.mkdtemp()) / "asound.conf"
        config.write_text(f"<{alsa}>\npcm.!default {{\n  type null\n}}\n")
        environment = {**os.environ, "ALSA_CONFIG_PATH": str(config)}  # this subprocess only
    result, problem = _run_device_script(environment)
    if result is None:
        pytest.skip(f"no usable sound device on this machine: {problem}")
    assert result["frames"] == [["int16", 1280]] * 5
    assert not result["still_playing"]  # the reply went out and the playback thread ended (ALSA's null device does not pace)


def test_missing_portaudio_or_sounddevice_says_how_to_fix(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "sounddevice", None)  # import fails as if not installed
    with pytest.raises(AudioDeviceError, match="pip install 'edge-voice\\[audio\\]'"):
        import_sounddevice()


class _Status:
    input_overflow = False


class _FakeStream:
    """An InputStream that delivers 3 blocks, then dies as if unplugged."""

    def __init__(self, owner, callback, finished_callback, blocksize, **_):
        self.owner, self.callback, self.finished, self.blocksize = owner, callback, finished_callback, blocksize
        self.active = False

    def start(self):
        self.active = True
        self.owner.opened += 1
        block = np.full((self.blocksize, 1), self.owner.opened, np.int16)

        def deliver():
            for _ in range(3):
                self.callback(block, 1280, None, _Status())
            self.active = False
            self.finished()
        threading.Thread(target=deliver, daemon=True).start()

    def close(self, ignore_errors=True):
        self.active = False


class _FakeSounddevice:
    def __init__(self, fail_first_opens=1, rate=16000):
        self.opened = 0
        self.fail = fail_first_opens
        self.rate = rate

    def query_devices(self, device=None, kind=None):
        return {"name": "fake", "default_samplerate": float(self.rate)}

    def InputStream(self, samplerate, **kwargs):  # noqa: N802 (sounddevice's name)
        if self.fail:
            self.fail -= 1
            raise OSError("Device unavailable")
        if samplerate != self.rate:
            raise OSError("Invalid sample rate")
        return _FakeStream(self, **kwargs)


def test_a_microphone_that_only_records_at_48_khz_is_resampled(monkeypatch):
    fake = _FakeSounddevice(fail_first_opens=0, rate=48000)
    monkeypatch.setattr("edge.audio.devices.import_sounddevice", lambda: fake)
    source = MicrophoneSource(LiveSettings(reconnect_seconds=0.01))
    frames = source.frames()
    pieces = [next(frames) for _ in range(3)]
    source.close()
    total = sum(len(piece) for piece in pieces)
    # 3 blocks of 3840 samples at 48 kHz: 3 × 1280 at 16 kHz, less the resampler's filter delay (< 40 ms)
    assert 3 * 1280 - 640 <= total <= 3 * 1280 and all(piece.dtype == np.int16 for piece in pieces)


def test_an_unplugged_microphone_is_reopened(monkeypatch):
    fake = _FakeSounddevice()
    monkeypatch.setattr("edge.audio.devices.import_sounddevice", lambda: fake)
    source = MicrophoneSource(LiveSettings(reconnect_seconds=0.01))
    frames = source.frames()
    values = [int(next(frames)[0]) for _ in range(6)]
    source.close()
    assert values == [1, 1, 1, 2, 2, 2]  # first open failed, second died after 3 frames, third took over


def test_a_microphone_that_never_comes_back_fails_with_a_clear_message(monkeypatch):
    fake = _FakeSounddevice(fail_first_opens=99)
    monkeypatch.setattr("edge.audio.devices.import_sounddevice", lambda: fake)
    source = MicrophoneSource(LiveSettings(reconnect_seconds=0.01, reconnect_attempts=3))
    with pytest.raises(AudioDeviceError, match="plugged in"):
        next(source.frames())


class _FakeOutput:
    def __init__(self, played):
        self.played = played

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def write(self, samples):
        import time

        time.sleep(len(samples) / 22050)  # plays in real time
        self.played.append(len(samples))


def test_speaker_plays_replies_and_stops_on_barge_in(monkeypatch):
    import time

    from edge.audio.devices import SpeakerSink

    played: list[int] = []
    fake = type("SD", (), {"OutputStream": staticmethod(lambda **_: _FakeOutput(played))})()
    monkeypatch.setattr("edge.audio.devices.import_sounddevice", lambda: fake)
    sink = SpeakerSink(LiveSettings())
    sink.begin(22050, 0.0)
    sink.write(np.zeros(22050 * 2, np.int16))  # 2 s of reply
    sink.end()
    time.sleep(0.2)
    assert sink.playing(0.0)
    sink.stop(0.0)
    deadline = time.monotonic() + 1.0
    while sink.playing(0.0) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not sink.playing(0.0) and sum(played) < 22050  # cut well before its 2 s
    sink.begin(22050, 0.0)  # the next reply plays in full
    sink.write(np.zeros(2048, np.int16))
    sink.end()
    time.sleep(0.3)
    assert not sink.playing(0.0) and played[-1] == 2048


def test_edge_run_listens_on_the_microphone_until_interrupted(tmp_path):
    """`edge run` with a microphone (ALSA's null device here) starts the live loop; Ctrl-C ends it cleanly."""
    import os
    import signal
    import subprocess
    import sys
    import time

    try:
        import_sounddevice()
    except AudioDeviceError as error:
        pytest.skip(f"cannot exercise sound devices here: {error}")
    alsa = Path("/usr/share/alsa/alsa.conf")
    if not alsa.is_file():
        pytest.skip("no alsa-lib configuration for ALSA's null device")
    config = tmp_path / "asound.conf"
    config.write_text(f"<{alsa}>\npcm.!default {{\n  type null\n}}\n")
    from helpers.processes import SHUTDOWN_SECONDS, LineReader

    # -v: the loop logs "no request after push-to-talk" when the pressed request hears only silence
    command = [sys.executable, "-m", "edge", "run", "-v", "--no-cast", "--set", "live.activation=push-to-talk",
               "--set", "vad.listen_timeout_seconds=0.5", "--set", f"skills.database_path={tmp_path / 'db.sqlite3'}"]
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env={**os.environ, "ALSA_CONFIG_PATH": str(config)}, text=True)
    lines = LineReader(process)
    try:
        lines.wait_for("press Enter, then speak")  # printed once the models are loaded and the microphone opens
        process.stdin.write("\n")  # push to talk: silence follows, so the request times out without a turn
        process.stdin.flush()
        deadline = time.monotonic() + SHUTDOWN_SECONDS
        while "no request after push-to-talk" not in lines.stderr_text() and time.monotonic() < deadline:
            assert process.poll() is None, lines.stderr_text()
            time.sleep(0.05)  # polling the loop's log, not waiting for it to happen
        assert "no request after push-to-talk" in lines.stderr_text()
        assert process.poll() is None  # still listening after a request that heard nothing
        process.send_signal(signal.SIGINT)
        # a fresh-clone CI run once saw 1 here (not seen in 45 runs since): the message keeps what it said
        assert process.wait(timeout=SHUTDOWN_SECONDS) == 0, lines.stderr_text()[-3000:]
    finally:
        if process.poll() is None:
            process.kill()
    assert "Traceback" not in lines.stderr_text()


def test_a_turn_that_raises_is_traced_and_the_loop_goes_on(vad):
    class Broken(FakeTurn):
        failed = False

        def run_audio(self, audio, session="local", area="", on_audio=None):
            if not self.failed:
                self.failed = True
                raise RuntimeError("boom")
            return super().run_audio(audio, session, area, on_audio)

    button = PushToTalk()
    loop = LiveLoop(Settings(), Broken(FakeVoice(), ["Done."]), button, vad)
    samples = np.concatenate([GAP, SPEECH, GAP, GAP, SPEECH, GAP])
    presses = [len(GAP) // 2, 3 * len(GAP) + len(SPEECH)]
    traces = loop.run(ButtonSource(samples, button, presses), FileSink(None))
    assert traces[0].error["text"] == "boom" and traces[1].reply == "Done."
