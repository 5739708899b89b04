"""Where the exported Whisper ONNX folder lives and what its manifest says.

`python -m distill.whisper_export` (or `make whisper-onnx`, which needs the `distill` extra for
torch) builds it once from the bundled CTranslate2 weights into the user cache; the device only
reads it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

ONNX_FORMAT_VERSION = 3  # 2: cross keys/values per layer, split into heads; 3: fused encoder attention
MANIFEST = "whisper_onnx.json"
REQUIRED_FILES = ("encoder.onnx", "decoder.onnx", "tokenizer.json", "config.json", MANIFEST)


def default_onnx_dir(quantized: bool = True) -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "edge" / "whisper-onnx" / ("tiny.en-int8" if quantized else "tiny.en-fp32")


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The folder's manifest, or None when the folder is missing, incomplete or unreadable."""
    if not all((folder / name).is_file() for name in REQUIRED_FILES):
        return None
    try:
        return json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def is_current(manifest: dict[str, Any] | None) -> bool:
    """True when the folder was exported in the format this runtime reads."""
    return manifest is not None and manifest.get("format_version") == ONNX_FORMAT_VERSION


def missing_files(folder: Path) -> list[str]:
    return [name for name in REQUIRED_FILES if not (folder / name).is_file()]
