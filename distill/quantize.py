"""INT8 for a device profile: dynamic (weights INT8, activations quantised on the fly; the
Optimum preset the profile names) or static (QDQ, per-channel INT8 weights, activation ranges
calibrated on the bundle's own validation utterances; what NPUs and TensorRT want).

Static quantisation only touches MatMul/Gemm (and the embedding Gather): quantising LayerNorm,
Softmax and GELU activations of a small BERT costs accuracy for no speed on CPUs.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from distill.export import quantize
from distill.profiles import DeviceProfile

log = logging.getLogger(__name__)
MODES = ("dynamic", "static", "auto")


def quantize_for_profile(
    fp32: Path,
    out: Path,
    profile: DeviceProfile,
    mode: str,
    tokenizer_path: Path,
    valid_utterances,
    calibration_items: int = 300,
) -> dict[str, Any]:
    """Write the INT8 model to `out`; returns what was done, for bundle.json. `auto` follows the
    profile: static for boards that want calibrated activations (NPUs), dynamic otherwise."""
    if mode not in MODES:
        raise ValueError(f"unknown quantization {mode!r}; choose one of {', '.join(MODES)}")
    if mode == "auto":
        mode = "static" if profile.static else "dynamic"
    if mode == "dynamic":
        return {"mode": "dynamic", **quantize(fp32, out, profile.quantization_preset, per_channel=True)}
    items = profile.calibration_samples if profile.static else calibration_items
    return static_quantize(fp32, out, tokenizer_path, [u.text for u in valid_utterances][:items])


class _UtteranceReader:
    """onnxruntime's CalibrationDataReader over tokenised utterances, one at a time (batch 1)."""

    def __init__(self, tokenizer_path: Path, texts: list[str]) -> None:
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self._feeds = iter(
            [
                {
                    "input_ids": np.asarray([e.ids], dtype=np.int64),
                    "attention_mask": np.asarray([e.attention_mask], dtype=np.int64),
                }
                for e in (tokenizer.encode(text) for text in texts)
            ]
        )

    def get_next(self):
        return next(self._feeds, None)


def static_quantize(fp32: Path, out: Path, tokenizer_path: Path, texts: list[str]) -> dict[str, Any]:
    import onnxruntime
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if not texts:
        raise ValueError("static quantization needs validation utterances to calibrate on")
    scratch = fp32.parent / "static"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    prepared = scratch / "prepared.onnx"
    # symbolic shape inference gives up on the dynamic-length BERT graph (and leaves a temp file in
    # the working folder); onnx shape inference and the optimiser are enough for quantize_static
    quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    op_types = ["MatMul", "Gemm", "Gather"]
    quantize_static(
        str(prepared),
        str(out),
        _UtteranceReader(tokenizer_path, texts),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        weight_type=QuantType.QInt8,
        activation_type=QuantType.QUInt8,
        op_types_to_quantize=op_types,
        calibrate_method=CalibrationMethod.MinMax,
    )
    log.info("static INT8 (QDQ) %s -> %s, calibrated on %d utterances", fp32, out, len(texts))
    return {
        "mode": "static",
        "tool": "onnxruntime.quantization.quantize_static",
        "format": "QDQ",
        "per_channel": True,
        "weights": "QInt8",
        "activations": "QUInt8",
        "calibration": f"MinMax on {len(texts)} validation utterances",
        "op_types": op_types,
        "onnxruntime": onnxruntime.__version__,
    }
