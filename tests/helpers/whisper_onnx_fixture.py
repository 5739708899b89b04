"""The Whisper ONNX graphs for the tests that use them: built once by the runtime itself (no torch)
into the user cache (~/.cache/edge/whisper-onnx), reused afterwards."""

from pathlib import Path


def ensure_whisper_onnx() -> Path:
    from edge.asr.onnx.build import prepared_graphs
    from edge.core.settings import AsrSettings

    return prepared_graphs(AsrSettings())
