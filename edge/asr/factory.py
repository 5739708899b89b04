"""Pick the engine `asr.engine` names: the fast ONNX path (edge/asr/onnx/), faster-whisper, or
openai-whisper. Engines are imported lazily: a speaker without torch never loads openai-whisper."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from devices.sessions import SessionFactory
from edge.asr.base import AsrError
from edge.core.domain import Domain
from edge.core.settings import AsrSettings

logger = logging.getLogger(__name__)

ENGINES = ("faster-whisper", "onnx-whisper", "openai-whisper")


def create_asr(settings: AsrSettings, vocabulary: Iterable[str] = (), sessions: SessionFactory | None = None,
               domain: Domain | None = None):
    """The engine `asr.engine` names. onnx-whisper builds its graphs on first use (edge/asr/onnx/build.py)
    and falls back to faster-whisper, with a log line, when they cannot be built or loaded. `sessions`: the board's
    onnxruntime session factory (CPU only when None); faster-whisper runs on CTranslate2. `domain`: what the
intent bundle listens for (its words bias onnx-whisper; a closed grammar is decoded inside it)."""
    if settings.engine not in ENGINES:
        raise AsrError(f"unknown asr.engine {settings.engine!r}; choose one of {', '.join(ENGINES)}")
    if settings.engine == "openai-whisper":
        from edge.asr.openai_whisper import OpenAiWhisperAsr

        return OpenAiWhisperAsr(settings)
    if settings.engine == "onnx-whisper":
        from edge.asr.onnx.engine import OnnxWhisperAsr

        try:
            return OnnxWhisperAsr(settings, vocabulary, sessions, domain)
        except AsrError as error:
            logger.warning("onnx-whisper unavailable, using faster-whisper instead: %s", error)
    from edge.asr.faster_whisper import WhisperAsr

    return WhisperAsr(settings)
