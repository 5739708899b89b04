"""openai-whisper as an ASR engine, for users who have `.pt` checkpoints (`asr.engine = "openai-whisper"`).

It needs torch and the `openai-whisper` package (pip install openai-whisper), which a speaker
normally lacks: both are imported only when this engine is chosen. `asr.openai_checkpoint` is a
.pt path (e.g. one written by `python -m distill.whisper_export --openai-checkpoint tiny.en.pt`
from the bundled weights) or a model name openai-whisper knows.
"""

from __future__ import annotations

import logging

import numpy as np

from edge.asr.base import AsrError
from edge.core.events import Transcript
from edge.core.settings import AsrSettings

logger = logging.getLogger(__name__)


class OpenAiWhisperAsr:
    def __init__(self, settings: AsrSettings) -> None:
        if not settings.openai_checkpoint:
            raise AsrError("asr.engine=openai-whisper needs asr.openai_checkpoint (a .pt file or a model name)")
        try:
            import whisper
        except ImportError as error:
            raise AsrError("openai-whisper is not installed: pip install openai-whisper (it brings torch)") from error
        try:
            self._model = whisper.load_model(settings.openai_checkpoint, device="cpu")
        except (RuntimeError, OSError, ValueError) as error:
            raise AsrError(f"cannot load openai-whisper checkpoint {settings.openai_checkpoint}: {error}") from error
        self._settings = settings
        logger.info("loaded openai-whisper %s", settings.openai_checkpoint)

    def transcribe(self, samples: np.ndarray, sample_rate: int = 16000) -> Transcript:
        if sample_rate != 16000:
            raise AsrError(f"Whisper needs 16000 Hz audio, got {sample_rate} Hz; resample first")
        result = self._model.transcribe(
            np.asarray(samples, dtype=np.float32), language=self._settings.language, temperature=0.0,
            beam_size=None if self._settings.beam_size <= 1 else self._settings.beam_size,
            condition_on_previous_text=False, without_timestamps=True, fp16=False,
        )
        return Transcript(text=str(result["text"]).strip(), language=self._settings.language,
                          audio_seconds=len(samples) / sample_rate)
