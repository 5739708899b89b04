"""ONNX export through Optimum and dynamic INT8 quantization through Optimum's `ORTQuantizer`."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

QUANTIZATION_PRESETS = ("arm64", "avx512_vnni", "avx2")


def export_onnx(model, output_dir: Path, opset: int = 17, atol: float = 1e-4) -> Path:
    """Export the fine-tuned model to `output_dir/model.onnx` (fp32, dynamic batch and length) with
    Optimum's `export` and check the ONNX outputs against PyTorch's with `validate_model_outputs`.

    `onnx_export_from_model` is not used: it infers the library from the model class's module
    name and refuses classes defined outside transformers ("The library name could not be
    automatically inferred"). The lower-level `export` takes the custom `OnnxConfig` directly.
    """
    from optimum.exporters.onnx import export, validate_model_outputs

    from distill.joint_model import intent_slot_onnx_config

    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / "model.onnx"
    onnx_config = intent_slot_onnx_config(model.config)
    model.eval()
    _, output_names = export(model, onnx_config, path, opset=opset)
    validate_model_outputs(onnx_config, model, path, output_names, atol=atol, use_subprocess=False)
    model.config.save_pretrained(output_dir)
    log.info("exported %s (opset %d), outputs match PyTorch within %g", path, opset, atol)
    return path


def quantization_config(preset: str = "arm64", per_channel: bool = True):
    """Optimum's named dynamic-quantization preset (`AutoQuantizationConfig.<preset>`)."""
    from optimum.onnxruntime.configuration import AutoQuantizationConfig

    if preset not in QUANTIZATION_PRESETS:
        raise ValueError(f"unknown quantization preset {preset!r}; choose one of {', '.join(QUANTIZATION_PRESETS)}")
    return getattr(AutoQuantizationConfig, preset)(is_static=False, per_channel=per_channel)


def quantize(fp32_path: Path, output_path: Path, preset: str = "arm64", per_channel: bool = True) -> dict[str, Any]:
    """Quantize `fp32_path` to INT8 at `output_path`; returns the config as JSON-able dict."""
    import onnxruntime
    from optimum.onnxruntime import ORTQuantizer
    from optimum.onnxruntime.configuration import ORTConfig

    config = quantization_config(preset, per_channel)
    scratch = fp32_path.parent / "quantized"
    quantizer = ORTQuantizer.from_pretrained(fp32_path.parent, file_name=fp32_path.name)
    quantizer.quantize(quantization_config=config, save_dir=scratch)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(scratch / f"{fp32_path.stem}_quantized.onnx", output_path)
    record = {
        "tool": "optimum.onnxruntime.ORTQuantizer",
        "preset": f"AutoQuantizationConfig.{preset}(is_static=False, per_channel={per_channel})",
        "onnxruntime": onnxruntime.__version__,
        **ORTConfig.dataclass_to_dict(config),
    }
    log.info("quantized %s -> %s (%s)", fp32_path, output_path, record["preset"])
    return record
