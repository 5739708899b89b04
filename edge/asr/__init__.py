"""Speech to text.

    asr = create_asr(settings.asr, vocabulary)     # the engine asr.engine names
    transcript = asr.transcribe(samples, 16000)    # blocking: call it from a worker thread

    base.py            AsrError, the bundled Whisper model's folder
    faster_whisper.py  `WhisperAsr` (CTranslate2), the fallback
    onnx/              the fast path: our Whisper graphs, decoded in numpy
    openai_whisper.py  .pt checkpoints through openai-whisper (needs torch)
    factory.py         `create_asr`
"""

from edge.asr.base import AsrError, bundled_whisper_dir
from edge.asr.factory import ENGINES, create_asr
from edge.asr.faster_whisper import WhisperAsr

__all__ = ["ENGINES", "AsrError", "WhisperAsr", "bundled_whisper_dir", "create_asr"]
