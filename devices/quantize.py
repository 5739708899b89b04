"""Dynamic INT8 quantization of an ONNX file with onnxruntime's quantizer (the runtime's one use).

    quantize_weights(Path("decoder-fp32.onnx"), Path("decoder.onnx"), ("MatMul", "Gather"), per_channel=False)

Weights of the named operator types become INT8 (signed, symmetric, per tensor or per output
channel); activations are quantized on the fly at run time. `devices` owns every onnxruntime
import of the runtime (as it owns sessions.py), so edge/asr/onnx/build.py quantizes through here.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

logger = logging.getLogger(__name__)


class QuantizeError(RuntimeError):
    """onnxruntime's quantizer is missing or failed; the message names the file."""


def quantizer_version() -> str:
    try:
        return importlib.metadata.version("onnxruntime")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def quantize_weights(source: Path, target: Path, op_types: Sequence[str], per_channel: bool) -> None:
    """Write `source` with INT8 weights to `target` (onnxruntime `quantize_dynamic`, QInt8)."""
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as error:  # the quantizer needs the onnx package beside onnxruntime
        raise QuantizeError(f"onnxruntime's quantizer cannot load ({error}); pip install onnx") from error
    try:
        with _quantizer_chatter_at_debug():
            quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8,
                             op_types_to_quantize=list(op_types), per_channel=per_channel)
    except Exception as error:  # the quantizer raises whatever onnx or numpy raised
        raise QuantizeError(f"cannot quantize {source}: {error}") from error


class _ToDebug(logging.Filter):
    """Moves the quantizer's root-logger lines ("consider pre-processing", one per tensor) to DEBUG here."""

    def filter(self, record: logging.LogRecord) -> bool:
        if f"onnxruntime{os.sep}quantization" not in record.pathname:
            return True
        logger.debug("onnxruntime quantizer: %s", record.getMessage())
        return False


@contextlib.contextmanager
def _quantizer_chatter_at_debug() -> Iterator[None]:
    quiet = _ToDebug()
    root = logging.getLogger()
    root.addFilter(quiet)
    try:
        yield
    finally:
        root.removeFilter(quiet)
