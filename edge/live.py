"""The live loop: source → wake word → VAD → ASR → turn → streamed reply → sink, all day.

    loop = LiveLoop.load(settings)                 # models loaded once
    traces = loop.run(FileSource(path), FileSink(out_dir))   # or MicrophoneSource / SpeakerSink

Frames arrive as 16 kHz int16. Idle, they go to the wake word detector (or push-to-talk). After
a detection the Endpointer (Silero VAD) waits for speech, and the request ends after
`vad.silence_seconds` of silence (or is cut at `vad.max_request_seconds`). The request audio then
runs through the pipeline; its reply streams to the sink sentence by sentence. While a reply
plays, the wake word (or, with `live.barge_in = "voice"`, any speech) stops it and starts a new
request. A reply ending in a question opens `vad.follow_up_seconds` for an answer without the
wake word. Each turn's trace is the pipeline's, plus a `live` entry with stream times.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from edge.audio.stream import SAMPLE_RATE, AudioSink, FrameSource
from edge.audio.wavio import RequestAudio
from edge.settings import Settings
from edge.vad import Endpoint, Endpointer, SileroVad
from edge.wake import PushToTalk, WakeDetection, WakeWordDetector

logger = logging.getLogger(__name__)

TAIL_SECONDS = 0.2  # audio kept after the last speech window


class LiveError(Exception):
    """The loop cannot run with these settings (e.g. an unknown activation)."""


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
    def __init__(self, settings: Settings, pipeline, activation: WakeWordDetector | PushToTalk, vad: SileroVad, tts,
                 on_turn: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.settings = settings
        self.pipeline = pipeline
        self.activation = activation
        self.vad = vad
        self.tts = tts  # a StreamingTts: the pipeline's voice, teed to the sink
        self.on_turn = on_turn
        self._voice_stream = vad.stream()

    @classmethod
    def load(cls, settings: Settings, on_turn: Callable[[dict[str, Any]], None] | None = None,
             activation: WakeWordDetector | PushToTalk | None = None, caster=None) -> LiveLoop:
        """`caster`: a started CardCaster for the replies' cards (the caller closes it), or None."""
        from edge.live_models import load_live_pipeline

        if settings.live.activation not in ("wake", "push-to-talk"):
            raise LiveError(f"live.activation must be wake or push-to-talk, not {settings.live.activation!r}")
        if settings.live.barge_in not in ("wake", "voice", "off"):
            raise LiveError(f"live.barge_in must be wake, voice or off, not {settings.live.barge_in!r}")
        pipeline, tts = load_live_pipeline(settings, caster=caster)
        if activation is None:
            activation = WakeWordDetector(settings.wake) if settings.live.activation == "wake" else PushToTalk()
        return cls(settings, pipeline, activation, SileroVad(settings.vad), tts, on_turn)

    def close(self) -> None:
        self.pipeline.close()

    def run(self, source: FrameSource, sink: AudioSink) -> list[dict[str, Any]]:
        """Serve every request in `source` until it ends; the turn traces, in order."""
        traces: list[dict[str, Any]] = []
        request: _Request | None = None
        follow_up = False
        heard = 0  # samples read from the source
        try:
            for frame in source.frames():
                heard += len(frame)
                now = heard / SAMPLE_RATE
                detection = self.activation.process(frame)  # every frame: the detector streams
                if request is None:
                    request, follow_up = self._idle(frame, detection, now, sink, follow_up)
                    continue
                request.frames.append(frame)
                state = request.endpointer.feed(frame)
                if state is Endpoint.TIMEOUT:
                    logger.info("no request after %s at %.2f s", request.trigger, request.opened_at)
                    request = None
                elif state in (Endpoint.ENDED, Endpoint.CAPPED):
                    trace = self._safe_turn(request, now, sink)
                    follow_up = trace.get("reply", "").rstrip().endswith("?")
                    traces.append(trace)
                    if self.on_turn is not None:
                        self.on_turn(trace)
                    request = None
        finally:
            source.close()
        return traces

    def _idle(self, frame: np.ndarray, detection: WakeDetection | None, now: float, sink: AudioSink,
              follow_up: bool) -> tuple[_Request | None, bool]:
        """Between requests: wake word, barge-in, or the follow-up window after a question."""
        playing = sink.playing(now)
        if playing and self._barge_in(frame, detection):
            sink.stop(now)
            self.tts.interrupt()
            logger.info("barge-in at %.2f s", now)
            return self._open(now, "barge-in", detection), False
        if detection is not None and not playing:
            return self._open(now, detection.name, detection), False
        if follow_up and not playing:
            return self._open(now, "follow-up", None, self.settings.vad.follow_up_seconds), False
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

    def _safe_turn(self, request: _Request, now: float, sink: AudioSink) -> dict[str, Any]:
        """A turn that fails unexpectedly is logged and traced; the speaker keeps listening."""
        try:
            return self._turn(request, now, sink)
        except Exception as error:  # the runtime boundary: one bad turn must not end the loop
            logger.exception("turn failed")
            return {"transcript": None, "reply": "", "error": {"code": "turn-failed", "text": str(error)},
                    "live": {"trigger": request.trigger, "end_of_speech_detected_s": round(now, 3)}}

    def _turn(self, request: _Request, now: float, sink: AudioSink) -> dict[str, Any]:
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

        self.tts.listen(play)
        began = time.perf_counter()
        try:
            result = self.pipeline.run_audio(RequestAudio(samples, SAMPLE_RATE, SAMPLE_RATE, 1, False))
        finally:
            self.tts.listen(None)
        if reply_started:
            sink.end()
        trace = dict(result.trace)
        trace["live"] = {
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
            trace.setdefault("warnings", []).append(f"request cut at {self.settings.vad.max_request_seconds:g} s")
        return trace
