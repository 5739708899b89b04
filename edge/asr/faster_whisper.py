"""faster-whisper (CTranslate2) on the bundled Whisper tiny.en, quantised to int8 when loaded.

One model per process; `transcribe` is thread-safe and blocking, so the turn calls it from a
worker thread. It is the fallback when the ONNX graphs of edge/asr/onnx/ are not built.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from edge.asr.base import AsrError, bundled_whisper_dir
from edge.core.events import Transcript
from edge.core.settings import AsrSettings

logger = logging.getLogger(__name__)


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
