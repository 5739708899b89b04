"""The live loop's playback helper: duck the music under the speaker's voice, and hear "stop".

    playback = PlaybackControl.load(settings, turn, vad, media, "local")   # media: edge/audio/player.py, or None
    sink = playback.wrap(sink)                                      # a reply that begins ducks the music
    heard = playback.frame(frame, now, sink, listening=request is not None)   # every frame

The music is ducked (`media.duck_db`) while a request is being listened to and while a reply
plays, and comes back when both are over. While a reply or music plays and no request is open,
`edge/listen/stop.py` listens for a stop word without the wake word: it stops the reply when the
speaker is talking (the music then comes back up), else it pauses ("pause") or stops the music.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

from edge.audio.stream import AudioSink
from edge.core.settings import Settings
from edge.core.stages import MediaPlayer, PlayerState
from edge.listen.stop import StopListener, StopWord
from edge.listen.vad import SAMPLE_RATE, SileroVad

logger = logging.getLogger(__name__)


class DuckingSink(AudioSink):
    """The reply sink, unchanged, except that a reply that begins ducks the music at once."""

    def __init__(self, inner: AudioSink, duck: Callable[[], None]) -> None:
        self.inner, self._duck = inner, duck

    def begin(self, sample_rate: int, at_seconds: float) -> None:
        self._duck()
        self.inner.begin(sample_rate, at_seconds)

    def write(self, samples: np.ndarray) -> None:
        self.inner.write(samples)

    def end(self) -> None:
        self.inner.end()

    def playing(self, at_seconds: float) -> bool:
        return self.inner.playing(at_seconds)

    def stop(self, at_seconds: float) -> None:
        self.inner.stop(at_seconds)

    def close(self) -> None:
        self.inner.close()


class PlaybackControl:
    def __init__(self, media: MediaPlayer | None, stop: StopListener | None, interrupt: Callable[[], None]) -> None:
        self.media = media
        self.stop = stop
        self._interrupt = interrupt  # stops making the reply in flight (Turn.interrupt)
        self._ducked = False
        self._watching = False  # the stop listener is being fed
        self.heard: list[StopWord] = []

    @classmethod
    def load(cls, settings: Settings, turn, vad: SileroVad, media: MediaPlayer | None, session: str) -> PlaybackControl:
        """`turn`: the runtime's Turn (its Whisper transcribes a short burst; `interrupt` stops `session`'s reply)."""
        stop = None
        if settings.stop.enabled:
            stop = StopListener(settings.stop, vad.stream(), lambda samples: turn.transcribe(samples, SAMPLE_RATE).text)
        return cls(media, stop, lambda: turn.interrupt(session))

    def wrap(self, sink: AudioSink) -> AudioSink:
        return DuckingSink(sink, lambda: self._set_duck(True))

    def frame(self, frame: np.ndarray, now: float, sink: AudioSink, listening: bool) -> StopWord | None:
        """Per frame of the live loop: the stop word heard (and acted on), else None."""
        talking = sink.playing(now)
        self._set_duck(listening or talking)
        music = self.media is not None and _playing(self.media)
        if self.stop is None or listening or not (talking or music):
            self._watching = False
            return None
        if not self._watching:  # playback (re)started: no audio from before it
            self.stop.reset()
            self._watching = True
        heard = self.stop.feed(frame)
        if heard is not None:
            self._act(heard, now, sink, talking)
        return heard

    def close(self) -> None:
        close = getattr(self.media, "close", None)
        if close is not None:
            close()

    def _act(self, heard: StopWord, now: float, sink: AudioSink, talking: bool) -> None:
        self.heard.append(heard)
        if talking:
            sink.stop(now)
            self._interrupt()
            what = "the reply"
        elif heard.word.startswith("pause"):
            self.media.pause()
            what = "the music (paused)"
        else:
            self.media.stop()
            what = "the music"
        self._watching = False
        logger.info("stop word %r (heard %r) at %.2f s stopped %s; ASR %.0f ms", heard.word, heard.transcript, now, what,
                    heard.asr_ms)

    def _set_duck(self, on: bool) -> None:
        if self.media is not None and on != self._ducked:
            self.media.duck(on)
            self._ducked = on


def _playing(media: MediaPlayer) -> bool:
    current = media.now_playing()
    return current is not None and current.state is PlayerState.PLAYING
