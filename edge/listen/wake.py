"""Wake word detection with openWakeWord's models (pyopen-wakeword: TFLite through its bundled
libtensorflowlite_c; no torch), and push-to-talk as the alternative activation.

`WakeWordDetector` takes 16 kHz int16 frames of any length (80 ms frames are what the model
steps by) and returns a `WakeDetection` when the model's probability reaches `wake.threshold`;
for `wake.refractory_seconds` after that it stays quiet, so one "alexa" is one detection.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.core.errors import ModelLoadError
from edge.core.events import Detection
from edge.core.settings import WakeSettings

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000  # hertz
BUILTIN_MODELS = ("alexa", "hey_jarvis", "hey_mycroft", "hey_rhasspy", "okay_nabu")


class WakeWordError(ModelLoadError):
    """The wake-word runtime or model is missing or cannot be loaded."""


@dataclass(frozen=True)
class WakeDetection:
    name: str  # the wake word model that fired
    probability: float
    at_seconds: float  # stream time (seconds of audio fed) when it fired

    def event(self) -> Detection:
        """The typed pipeline event (edge/core/events.py) for this detection."""
        return Detection(name=self.name, score=round(self.probability, 4))


class WakeWordDetector:
    """One model instance per audio stream (openWakeWord keeps streaming state inside)."""

    def __init__(self, settings: WakeSettings) -> None:
        try:
            from pyopen_wakeword import Model, OpenWakeWord, OpenWakeWordFeatures
        except (ImportError, OSError) as error:
            raise WakeWordError("pyopen-wakeword is not installed (or its TFLite library cannot load): "
                                "pip install pyopen-wakeword") from error
        try:
            if settings.model in BUILTIN_MODELS:
                self._model = OpenWakeWord.from_builtin(Model(settings.model))
            elif Path(settings.model).expanduser().is_file():
                self._model = OpenWakeWord.from_model(Path(settings.model).expanduser())
            else:
                raise WakeWordError(f"wake.model {settings.model!r} is neither a built-in model "
                                    f"({', '.join(BUILTIN_MODELS)}) nor a .tflite file")
            self._features = OpenWakeWordFeatures.from_builtin()
        except (ValueError, RuntimeError, OSError) as error:
            raise WakeWordError(f"cannot load wake word model {settings.model}: {error}") from error
        self.settings = settings
        self.name = Path(settings.model).stem
        self._fed_samples = 0
        self._quiet_until = 0.0
        self._lock = threading.Lock()
        logger.info("wake word %s loaded (threshold %.2f)", self.name, settings.threshold)

    @property
    def fed_seconds(self) -> float:
        return self._fed_samples / SAMPLE_RATE

    def process(self, frame: np.ndarray) -> WakeDetection | None:
        """Feed int16 mono 16 kHz samples; a detection when the wake word has just been said."""
        with self._lock:
            self._fed_samples += len(frame)
            now = self.fed_seconds
            best = self._score(frame)
            if best >= self.settings.threshold and now >= self._quiet_until:
                self._quiet_until = now + self.settings.refractory_seconds
                logger.info("wake word %s at %.2f s (p=%.2f)", self.name, now, best)
                return WakeDetection(self.name, best, now)
            return None

    def _score(self, frame: np.ndarray) -> float:
        best = 0.0
        for embedding in self._features.process_streaming(np.asarray(frame, dtype=np.int16).tobytes()):
            for probability in self._model.process_streaming(embedding):
                best = max(best, probability)
        return best

    def scores(self, frame: np.ndarray) -> float:
        """The model's highest probability within `frame`, without deciding (for benchmarks)."""
        with self._lock:
            self._fed_samples += len(frame)
            return self._score(frame)

    def reset(self) -> None:
        """Forget the audio heard so far (e.g. between unrelated recordings)."""
        with self._lock:
            self._features.reset()
            self._model.reset()
            self._fed_samples = 0
            self._quiet_until = 0.0


class PushToTalk:
    """The activation for speakers with a talk button: `press()` from any thread starts a request."""

    def __init__(self) -> None:
        self._pressed = threading.Event()
        self.name = "push-to-talk"
        self._fed_samples = 0

    def press(self) -> None:
        self._pressed.set()

    def process(self, frame: np.ndarray) -> WakeDetection | None:
        self._fed_samples += len(frame)
        if self._pressed.is_set():
            self._pressed.clear()
            return WakeDetection(self.name, 1.0, self._fed_samples / SAMPLE_RATE)
        return None

    def reset(self) -> None:
        self._pressed.clear()
        self._fed_samples = 0
