"""Build the Whisper ONNX graphs on the device, from the CTranslate2 weights: no torch.

    folder = prepared_graphs(settings.asr)        # builds on first use (in a child process), then reuses the cache
    python -m edge.asr.onnx.build [--model-dir DIR] [--out DIR] [--force]

`convert_ct2_to_openai` (ct2.py) reads the bundled tiny.en, graphs.py writes the encoder and the
one-step decoder with `onnx.helper`, onnxruntime's dynamic quantizer makes the weights INT8
(devices/quantize.py), and the folder is written beside its final place and renamed into it,
manifest last, under a file lock: a half-written folder is never at the final path, and two
processes starting together build once. About 10 s and 0.9 GB of memory on a 2-core x86 box (in a
child process when the runtime builds); the folder holds 62 MB.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib.metadata
import logging
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path

from devices.quantize import QuantizeError, quantize_weights, quantizer_version
from edge.asr.base import AsrError, bundled_whisper_dir
from edge.asr.onnx.artifacts import (
    FP32,
    INT8,
    default_onnx_dir,
    problem,
    read_manifest,
    source_fields,
    write_manifest,
)
from edge.asr.onnx.ct2 import convert_ct2_to_openai
from edge.core.errors import ModelLoadError
from edge.core.settings import AsrSettings

logger = logging.getLogger(__name__)

SCRATCH_BYTES = 400 * 1024 * 1024  # free disk the build needs beside the cache (float32 decoder + INT8 copies)


class WhisperBuildError(AsrError):
    """The graphs could not be built (no onnx package, no disk space, an unreadable model)."""


def source_dir(settings: AsrSettings) -> Path:
    """The CTranslate2 Whisper folder the graphs are built from (`asr.model_dir`, else the bundled tiny.en)."""
    return Path(settings.model_dir).expanduser() if settings.model_dir else bundled_whisper_dir()


def graphs_dir(settings: AsrSettings) -> Path:
    """Where the graphs are read from: `asr.onnx_dir`, else the user cache (one folder per source model)."""
    if settings.onnx_dir:
        return Path(settings.onnx_dir).expanduser()
    return default_onnx_dir() if not settings.model_dir else default_onnx_dir(model_name=Path(settings.model_dir).name)


def prepared_graphs(settings: AsrSettings) -> Path:
    """A folder of graphs this runtime can load, built now if it is missing, partial or stale and
    `asr.build_onnx` allows it; else AsrError saying why."""
    folder = graphs_dir(settings)
    model_bin = source_dir(settings) / "model.bin"
    reason = problem(folder, model_bin)
    if reason is None:
        return folder
    if not settings.build_onnx:
        raise AsrError(f"the Whisper ONNX graphs in {folder} cannot be used ({reason}); build them with "
                       "`python -m edge.asr.onnx.build` or set asr.build_onnx=true")
    logger.info("Whisper ONNX graphs in %s: %s", folder, reason)
    return build_in_child(source_dir(settings), folder)


def build_in_child(model_dir: Path, out_dir: Path) -> Path:
    """`build` in a child process, its progress lines passed on: the build's transient 0.9 GB stay
    out of the speaker's own peak memory, and a build killed for memory leaves the speaker running
    (on faster-whisper)."""
    command = [sys.executable, "-m", "edge.asr.onnx.build", "--model-dir", str(model_dir), "--out", str(out_dir),
               "--plain-log"]
    try:
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    except OSError as error:
        raise WhisperBuildError(f"cannot start the Whisper ONNX build ({error})") from error
    lines = []
    for line in child.stderr or ():
        lines.append(line.rstrip())
        logger.warning("%s", lines[-1])  # the build's own progress lines, at the CLI's default level
    code = child.wait()
    if code != 0 or problem(out_dir, model_dir / "model.bin") is not None:
        last = lines[-1] if lines else "no output"
        raise WhisperBuildError(f"the Whisper ONNX build exited with {code} ({last.removeprefix('edge: ')})")
    return out_dir


def build(model_dir: Path, out_dir: Path, quantize: bool = True, force: bool = False,
          progress: Callable[[str], None] | None = None) -> Path:
    """Build the graphs of `model_dir` into `out_dir` unless it already holds them (`force`: always)."""
    say = progress or logger.warning  # shown at the CLI's default level: the first start takes a while
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with _locked(out_dir):
        if not force and _up_to_date(out_dir, model_dir, quantize):
            return out_dir  # another process built it while this one waited
        free = shutil.disk_usage(out_dir.parent).free
        if free < SCRATCH_BYTES:
            raise WhisperBuildError(f"cannot build the Whisper ONNX graphs: {out_dir.parent} has {free >> 20} MB free, "
                                    f"the build needs {SCRATCH_BYTES >> 20} MB; free some space or set asr.onnx_dir")
        say(f"building the Whisper ONNX graphs from {model_dir} into {out_dir} (first use only, about 10 s)")
        started = time.perf_counter()
        try:
            with tempfile.TemporaryDirectory(prefix=f".{out_dir.name}.", dir=out_dir.parent) as scratch:
                _write_folder(model_dir, Path(scratch) / "new", quantize)
                _swap_in(Path(scratch) / "new", out_dir, Path(scratch) / "old")
        except (ModelLoadError, QuantizeError, OSError, ImportError) as error:
            raise WhisperBuildError(f"cannot build the Whisper ONNX graphs from {model_dir}: {error}") from error
        say(f"built the Whisper ONNX graphs in {time.perf_counter() - started:.1f} s: {out_dir}")
    return out_dir


def _up_to_date(out_dir: Path, model_dir: Path, quantize: bool) -> bool:
    manifest = read_manifest(out_dir)
    return (problem(out_dir, model_dir / "model.bin") is None and manifest is not None
            and manifest.get("quantization") == (INT8 if quantize else FP32))


def _write_folder(model_dir: Path, folder: Path, quantize: bool) -> None:
    from onnx import save

    from edge.asr.onnx.graphs import decoder_graph, encoder_graph

    dims, state = convert_ct2_to_openai(model_dir / "model.bin")
    folder.mkdir()
    float_dir = folder.parent / "fp32"
    float_dir.mkdir()
    for name, make in (("encoder.onnx", encoder_graph), ("decoder.onnx", decoder_graph)):
        graph = make(dims, state)
        save(graph, str(float_dir / name))
        del graph
        gc.collect()  # the float32 decoder is 190 MB: let it go before the quantizer loads it again
        if quantize:
            quantize_weights(float_dir / name, folder / name, INT8["op_types"], INT8["per_channel"][name])
            (float_dir / name).unlink()
        else:
            (float_dir / name).rename(folder / name)
    for name in ("tokenizer.json", "config.json"):
        shutil.copy(model_dir / name, folder / name)
    write_manifest(folder, {
        "dims": asdict(dims),
        **source_fields(model_dir / "model.bin"),
        "quantization": INT8 if quantize else FP32,
        "builder": "edge.asr.onnx.build (onnx.helper, no torch)",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "versions": {"onnx": _version("onnx"), "onnxruntime": quantizer_version(), "edge-voice": _version("edge-voice")},
    })


def _swap_in(new: Path, out_dir: Path, old: Path) -> None:
    """Rename the finished folder into place (the old one, if any, moves aside first and is deleted
    with the scratch folder): a reader sees the old folder, no folder, or the new one."""
    if out_dir.exists():
        out_dir.rename(old)
    new.rename(out_dir)


@contextlib.contextmanager
def _locked(out_dir: Path) -> Iterator[None]:
    """An exclusive lock beside `out_dir` (a second builder waits, then finds the graphs built)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock, the rename still keeps a reader safe
        yield
        return
    with (out_dir.parent / f".{out_dir.name}.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edge.asr.onnx.build", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, help="CTranslate2 Whisper folder (default: the bundled tiny.en)")
    parser.add_argument("--out", type=Path, help=f"output folder (default: {default_onnx_dir()})")
    parser.add_argument("--fp32", action="store_true", help="keep float32 weights (no INT8 quantization)")
    parser.add_argument("--force", action="store_true", help="rebuild even when the folder is up to date")
    parser.add_argument("--plain-log", action="store_true", help=argparse.SUPPRESS)  # a runtime's child: bare lines
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.plain_log else logging.INFO,
                        format="%(message)s" if args.plain_log else "%(levelname)s %(name)s: %(message)s")
    model_dir = args.model_dir or bundled_whisper_dir()
    out = args.out or default_onnx_dir(quantized=not args.fp32)
    try:
        build(model_dir, out, quantize=not args.fp32, force=args.force)
    except AsrError as error:
        print(f"edge: {error}", file=sys.stderr)
        return int(error.exit_code)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
