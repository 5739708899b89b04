"""The live loop: source → wake word → VAD → the one Turn → streamed reply → sink, all day.

    loop = LiveLoop.load(settings)                 # models loaded once
    traces = loop.run(FileSource(path), FileSink(out_dir))   # or MicrophoneSource / SpeakerSink

Frames arrive as 16 kHz int16. Idle, they go to the wake word detector (or push-to-talk). After
a detection the Endpointer (Silero VAD) waits for speech, and the request ends after
`vad.silence_seconds` of silence (or is cut at `vad.max_request_seconds`). The request audio then
runs through `Turn` (session "local"); its reply streams to the sink piece by piece. While a reply
plays, the wake word (or, with `live.barge_in = "voice"`, any speech) stops it and starts a new
request. When the turn expects an answer (`TurnResult.expects_follow_up`: the dialogue asked a
question), the loop listens for `dialogue.follow_up_seconds` without the wake word. Between
requests, due timers, alarms and reminders are spoken (by the skills' clock, which for a
recording follows the recording). Each turn's trace is the Turn's, plus a `live` entry.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import numpy as np

from edge.audio.player import open_player
from edge.audio.stream import SAMPLE_RATE, AudioSink, FrameSource
from edge.audio.wavio import RequestAudio
from edge.core.errors import ConfigError
from edge.core.settings import Settings
from edge.core.stages import MediaPlayer
from edge.core.trace import TurnTrace
from edge.listen.vad import Endpoint, Endpointer, SileroVad
from edge.listen.wake import PushToTalk, WakeDetection, WakeWordDetector
from edge.runtime.alerts import Alert, AlertScheduler
from edge.runtime.playback import PlaybackControl
from edge.runtime.turn import Turn, TurnResult

logger = logging.getLogger(__name__)

TAIL_SECONDS = 0.2  # audio kept after the last speech window
LOCAL_SESSION = "local"  # the speaker's own microphone: one conversation
ALERT_POLL_SECONDS = 0.5  # how often (in stream time) due alerts are looked for between requests


class LiveError(ConfigError):
    """The loop cannot run with these settings (e.g. an unknown activation)."""


class StreamClock:
    """The skills' clock while the loop reads a recording: the wall time when it started plus the
    audio heard so far, so a timer set in the recording rings at its place in the recording
    (a file is read much faster than it plays)."""

    def __init__(self, start: datetime) -> None:
        self._start = start
        self.seconds = 0.0

    def __call__(self) -> datetime:
        return self._start + timedelta(seconds=self.seconds)


@dataclass
class _Request:
    """One request being listened to: its endpointer and the audio heard since it opened."""

    endpointer: Endpointer
    opened_at: float  # stream seconds
    trigger: str  # wake word name, "follow-up" or "barge-in"
    wake_at: float | None
    wake_score: float | None
    frames: list[np.ndarray] = field(default_factory=list)


class LiveLoop:
    def __init__(self, settings: Settings, turn: Turn, activation: WakeWordDetector | PushToTalk, vad: SileroVad,
                 on_turn: Callable[[TurnTrace], None] | None = None, on_alert: Callable[[Alert], None] | None = None,
                 stream_clock: StreamClock | None = None, media: MediaPlayer | None = None) -> None:
        self.settings = settings
        self.turn = turn
        self.activation = activation
        self.vad = vad
        self.on_turn = on_turn
        self.on_alert = on_alert
        self._stream_clock = stream_clock  # set: the skills' clock follows the stream (a recording)
        self._voice_stream = vad.stream()
        self._sink: AudioSink | None = None
        self._now = 0.0
        self.alerts: AlertScheduler = turn.alert_scheduler(self._ring)
        self.playback = PlaybackControl.load(settings, turn, vad, media, LOCAL_SESSION)  # ducking, "stop" without the wake word

    @classmethod
    def load(cls, settings: Settings, on_turn: Callable[[TurnTrace], None] | None = None,
             activation: WakeWordDetector | PushToTalk | None = None, caster=None,
             on_alert: Callable[[Alert], None] | None = None, follow_stream_clock: bool = False) -> LiveLoop:
        """`caster`: a started CardCaster for the replies' cards (the caller closes it), or None.
        `follow_stream_clock`: the skills' clock follows the audio read (for a recording)."""
        if settings.live.activation not in ("wake", "push-to-talk"):
            raise LiveError(f"live.activation must be wake or push-to-talk, not {settings.live.activation!r}")
        if settings.live.barge_in not in ("wake", "voice", "off"):
            raise LiveError(f"live.barge_in must be wake, voice or off, not {settings.live.barge_in!r}")
        stream_clock = None
        if follow_stream_clock:
            from edge.skills.phrasing import resolve_timezone

            stream_clock = StreamClock(datetime.now(resolve_timezone(settings.skills.timezone)))
        media = open_player(settings)  # music (media.output); nothing is opened until the first play
        turn = Turn.load(settings, clock=stream_clock, caster=caster, media=media)
        if activation is None:
            activation = WakeWordDetector(settings.wake) if settings.live.activation == "wake" else PushToTalk()
        return cls(settings, turn, activation, SileroVad(settings.vad), on_turn, on_alert, stream_clock, media)

    def close(self) -> None:
        self.playback.close()
        self.turn.close()

    def run(self, source: FrameSource, sink: AudioSink) -> list[TurnTrace]:
        """Serve every request in `source` until it ends; the turn traces, in order."""
        traces: list[TurnTrace] = []
        request: _Request | None = None
        follow_up = 0.0  # seconds of listening without the wake word the last reply asked for
        heard = 0  # samples read from the source
        next_alert_poll = 0.0
        self._sink = sink = self.playback.wrap(sink)  # a reply that begins ducks the music
        try:
            for frame in source.frames():
                heard += len(frame)
                now = self._advance(heard / SAMPLE_RATE)
                detection = self.activation.process(frame)  # every frame: the detector streams
                if self.playback.frame(frame, now, sink, listening=request is not None) is not None:
                    continue  # "stop" while the speaker talked or played: done, without the wake word
                if request is None:
                    if now >= next_alert_poll and not sink.playing(now):
                        next_alert_poll = now + ALERT_POLL_SECONDS
                        self.alerts.poll()
                    request, follow_up = self._idle(frame, detection, now, sink, follow_up)
                    continue
                request.frames.append(frame)
                state = request.endpointer.feed(frame)
                if state is Endpoint.TIMEOUT:
                    logger.info("no request after %s at %.2f s", request.trigger, request.opened_at)
                    request = None
                elif state in (Endpoint.ENDED, Endpoint.CAPPED):
                    trace, follow_up = self._safe_turn(request, now, sink)
                    traces.append(trace)
                    if self.on_turn is not None:
                        self.on_turn(trace)
                    request = None
        finally:
            source.close()
            self._sink = None
        return traces

    def _advance(self, seconds: float) -> float:
        self._now = seconds
        if self._stream_clock is not None:
            self._stream_clock.seconds = seconds
        return seconds

    def _ring(self, alert: Alert) -> bool:
        """Speak a due alert through the sink (called by `alerts.poll()` from the loop itself)."""
        if self._sink is None:
            return False
        audio = self.turn.announce(alert)
        self._sink.begin(audio.sample_rate, self._now)
        self._sink.write(audio.samples)
        self._sink.end()
        logger.info("%s %d announced at %.2f s: %s", alert.kind, alert.ref, self._now, alert.text)
        if self.on_alert is not None:
            self.on_alert(alert)
        return True

    def _idle(self, frame: np.ndarray, detection: WakeDetection | None, now: float, sink: AudioSink,
              follow_up: float) -> tuple[_Request | None, float]:
        """Between requests: wake word, barge-in, or the follow-up window after a question."""
        playing = sink.playing(now)
        if playing and self._barge_in(frame, detection):
            sink.stop(now)
            self.turn.interrupt(LOCAL_SESSION)
            logger.info("barge-in at %.2f s", now)
            return self._open(now, "barge-in", detection), 0.0
        if detection is not None and not playing:
            return self._open(now, detection.name, detection), 0.0
        if follow_up > 0 and not playing:
            return self._open(now, "follow-up", None, follow_up), 0.0
        return None, follow_up

    def _barge_in(self, frame: np.ndarray, detection: WakeDetection | None) -> bool:
        mode = self.settings.live.barge_in
        if mode == "wake":
            return detection is not None
        if mode == "voice":
            probabilities = self._voice_stream.feed(frame)
            return detection is not None or any(p >= self.settings.vad.threshold for p in probabilities)
        return False

    def _open(self, now: float, trigger: str, detection: WakeDetection | None, timeout: float | None = None) -> _Request:
        settings = self.settings.vad
        if timeout is not None:
            settings = replace(settings, listen_timeout_seconds=timeout)
        wake_at, score = (None, None) if detection is None else (detection.at_seconds, round(detection.probability, 3))
        return _Request(Endpointer(settings, self.vad.stream()), now, trigger, wake_at, score)

    def _safe_turn(self, request: _Request, now: float, sink: AudioSink) -> tuple[TurnTrace, float]:
        """(trace, follow-up seconds); a turn that fails unexpectedly is logged and traced, and the
        speaker keeps listening."""
        try:
            result = self._turn(request, now, sink)
        except Exception as error:  # the runtime boundary: one bad turn must not end the loop
            logger.exception("turn failed")
            trace = TurnTrace(session=LOCAL_SESSION, error={"code": "turn-failed", "text": str(error)},
                              live={"trigger": request.trigger, "end_of_speech_detected_s": round(now, 3)})
            return trace, 0.0
        follow_up = result.follow_up_seconds or self.settings.dialogue.follow_up_seconds
        return result.trace, follow_up if result.expects_follow_up else 0.0

    def _turn(self, request: _Request, now: float, sink: AudioSink) -> TurnResult:
        endpointer = request.endpointer
        audio = np.concatenate(request.frames).astype(np.float32) / 32768.0
        start = max(0.0, (endpointer.speech_start or 0.0) - self.settings.vad.pre_roll_seconds)
        end = (endpointer.speech_end or endpointer.heard_seconds) + TAIL_SECONDS
        samples = audio[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)]
        reply_started = False

        def play(piece) -> None:
            nonlocal reply_started
            if not reply_started:
                sink.begin(piece.sample_rate, now)
                reply_started = True
            sink.write(piece.samples)

        began = time.perf_counter()
        result = self.turn.run_audio(RequestAudio(samples, SAMPLE_RATE, SAMPLE_RATE, 1, False), LOCAL_SESSION, on_audio=play)
        if reply_started:
            sink.end()
        result.trace.live = {
            "trigger": request.trigger,
            "wake_at_s": None if request.wake_at is None else round(request.wake_at, 3),
            "wake_score": request.wake_score,
            "speech_start_s": round(request.opened_at + (endpointer.speech_start or 0.0), 3),
            "speech_end_s": round(request.opened_at + (endpointer.speech_end or 0.0), 3),
            "end_of_speech_detected_s": round(now, 3),
            "endpoint_wait_ms": round((endpointer.heard_seconds - (endpointer.speech_end or 0.0)) * 1000, 1),
            "capped": endpointer.state is Endpoint.CAPPED,
            "request_seconds": round(len(samples) / SAMPLE_RATE, 3),
            "turn_ms": round((time.perf_counter() - began) * 1000, 1),
        }
        if endpointer.state is Endpoint.CAPPED:
            result.trace.warnings.append(f"request cut at {self.settings.vad.max_request_seconds:g} s")
        return result
