"""Where the Whisper ONNX folder lives, what its manifest says, and whether it can be loaded.

The runtime builds the folder itself from the CTranslate2 weights on first use (build.py, no
torch); `python -m distill.whisper_export` (PyTorch) writes the same folder as a reference. Both
write the manifest with `write_manifest`: the format, the source model's checksum, the
quantization, and every file's size and sha256. `problem` says why a folder cannot be used
(missing, partial, stale, another format), so a bad folder is rebuilt and never loaded.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

# 2: cross keys/values per layer, split into heads; 3: fused encoder attention; 4: the manifest
# lists every file's size and sha256 (and the source's size and mtime).
ONNX_FORMAT_VERSION = 4
MANIFEST = "whisper_onnx.json"
GRAPH_FILES = ("encoder.onnx", "decoder.onnx", "tokenizer.json", "config.json")
REQUIRED_FILES = (*GRAPH_FILES, MANIFEST)

# Per-channel encoder weights: per-tensor INT8 there turned the demo's "set an alarm" into "set in
# the long" (per-channel in the decoder as well brought the error back).
INT8 = {
    "weights": "int8",
    "method": "onnxruntime quantize_dynamic",
    "op_types": ["MatMul", "Gather"],
    "per_channel": {"encoder.onnx": True, "decoder.onnx": False},
}
FP32 = {"weights": "float32"}


def default_onnx_dir(quantized: bool = True, model_name: str = "tiny.en") -> Path:
    """The user's cache folder for one model's graphs (`$XDG_CACHE_HOME/edge/whisper-onnx/tiny.en-int8`)."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "edge" / "whisper-onnx" / f"{model_name}-{'int8' if quantized else 'fp32'}"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def source_fields(model_bin: Path) -> dict[str, Any]:
    """What the manifest records of the CTranslate2 model the graphs came from."""
    stat = model_bin.stat()
    return {"source": str(model_bin), "source_sha256": sha256(model_bin), "source_bytes": stat.st_size,
            "source_mtime_ns": stat.st_mtime_ns}


def write_manifest(folder: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """Write `manifest` (plus the size and sha256 of every graph file) last, after the files."""
    files = {name: {"bytes": (folder / name).stat().st_size, "sha256": sha256(folder / name)} for name in GRAPH_FILES}
    full = {"format_version": ONNX_FORMAT_VERSION, **manifest, "files": files}
    (folder / MANIFEST).write_text(json.dumps(full, indent=2) + "\n")
    return full


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The folder's manifest, or None when the folder is missing, incomplete or unreadable."""
    if not all((folder / name).is_file() for name in REQUIRED_FILES):
        return None
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def is_current(manifest: dict[str, Any] | None) -> bool:
    """True when the folder was written in the format this runtime reads."""
    return manifest is not None and manifest.get("format_version") == ONNX_FORMAT_VERSION


def missing_files(folder: Path) -> list[str]:
    return [name for name in REQUIRED_FILES if not (folder / name).is_file()]


def problem(folder: Path, model_bin: Path | None = None, deep: bool = False) -> str | None:
    """Why `folder` cannot be loaded, or None. Checks the files are there with the sizes the
    manifest lists (`deep`: and their sha256), the format, and, given `model_bin`, that they were
    built from it (by size and mtime, by sha256 when those changed)."""
    manifest = read_manifest(folder)
    if manifest is None:
        return f"missing: {', '.join(missing_files(folder)) or 'a readable manifest'}"
    if not is_current(manifest):
        return f"format {manifest.get('format_version')}, this runtime reads format {ONNX_FORMAT_VERSION}"
    files = manifest.get("files")
    if not isinstance(files, dict) or set(files) != set(GRAPH_FILES):
        return "the manifest does not list the graph files"
    for name, recorded in files.items():
        if (folder / name).stat().st_size != recorded.get("bytes"):
            return f"{name} is {(folder / name).stat().st_size} bytes, the manifest says {recorded.get('bytes')}"
        if deep and sha256(folder / name) != recorded.get("sha256"):
            return f"{name} does not match the sha256 in the manifest"
    if model_bin is not None:
        return _stale(manifest, model_bin)
    return None


def _stale(manifest: dict[str, Any], model_bin: Path) -> str | None:
    try:
        stat = model_bin.stat()
    except OSError as error:
        return f"cannot read the source model {model_bin}: {error}"
    if (stat.st_size, stat.st_mtime_ns) == (manifest.get("source_bytes"), manifest.get("source_mtime_ns")):
        return None
    if sha256(model_bin) != manifest.get("source_sha256"):
        return f"built from another model than {model_bin}"
    return None
