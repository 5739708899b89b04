"""Builds the Whisper ONNX export once (cached in ~/.cache/edge/whisper-onnx) for the tests that use it."""

from pathlib import Path

import pytest


def ensure_whisper_onnx() -> Path:
    from edge.asr import bundled_whisper_dir
    from edge.asr.onnx.artifacts import default_onnx_dir, is_current, read_manifest

    folder = default_onnx_dir()
    if not is_current(read_manifest(folder)):
        pytest.importorskip("torch", reason="exporting Whisper to ONNX needs the distill extra (torch)")
        from distill.whisper_export import export

        export(bundled_whisper_dir(), folder)
    return folder
