"""The runtime's torch-free Whisper graphs against the PyTorch export and faster-whisper, side by side.

    python -m bench.asr_build [--repeats 3] [--hwu64 30]

Builds the graphs both ways from the same CTranslate2 tiny.en: the runtime's own builder
(edge/asr/onnx/build.py: onnx.helper + onnxruntime's quantizer, no torch) and the PyTorch
reference (distill/whisper_export.py, needs the distill extra), each in a fresh child process
(its wall time and peak RSS measured), into a scratch folder. Then: whether their INT8 weights are
the same bytes, and on the clips of bench.asr_speed (demo, HWU64 spoken by Piper, real human
recordings) each clip's transcript from both graph folders and from faster-whisper, with latency
and WER, interleaved clip by clip. Also the folder's size raw and gzip-compressed (what shipping
the graphs as package data would add to the wheel). Writes bench/results/asr_build.json.
"""

from __future__ import annotations

import argparse
import collections
import gzip
import hashlib
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.asr_speed import installed_vocabulary, run
from bench.clips import demo_clips, human_clips, hwu64_piper_clips
from bench.provenance import write_result
from edge.asr import WhisperAsr
from edge.asr.onnx.artifacts import GRAPH_FILES
from edge.asr.onnx.engine import OnnxWhisperAsr
from edge.core.settings import AsrSettings

PACKAGES = ("edge-voice", "onnx", "onnxruntime", "torch", "ctranslate2", "faster-whisper", "numpy", "jiwer")
BUILDERS = {
    "torch_free": [sys.executable, "-m", "edge.asr.onnx.build", "--force", "--out"],
    "torch_export": [sys.executable, "-m", "distill.whisper_export", "--out"],
}


def build_in_child(command: list[str], out: Path) -> dict:
    """Run one builder in its own process: wall seconds and that process's peak RSS."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    done = subprocess.run([*command, str(out)], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(Path.cwd())})
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"command": " ".join(Path(part).name if part == sys.executable else part for part in command) + f" {out.name}",
            "seconds": round(seconds, 1), "peak_rss_mb": round(peak / 1024, 1) if peak > before else None,
            "folder_bytes": sum((out / name).stat().st_size for name in GRAPH_FILES)}


def weight_identity(first: Path, second: Path) -> dict:
    """How many initializers (INT8 weights, scales, zero points, float tensors) are byte-identical."""
    import onnx
    from onnx import numpy_helper

    report = {}
    for name in ("encoder.onnx", "decoder.onnx"):
        bags = []
        for folder in (first, second):
            bag = collections.Counter()
            for tensor in onnx.load(str(folder / name)).graph.initializer:
                array = numpy_helper.to_array(tensor)
                bag[(array.dtype.str, array.shape, hashlib.sha1(array.tobytes()).hexdigest())] += 1
            bags.append(bag)
        reference, built = bags
        report[name] = {"reference_initializers": sum(reference.values()), "identical": sum((reference & built).values()),
                        "only_in_reference": sum((reference - built).values()),
                        "only_in_torch_free": sum((built - reference).values())}
    return report


def gzip_bytes(folder: Path) -> int:
    return sum(len(gzip.compress((folder / name).read_bytes(), compresslevel=6)) for name in ("encoder.onnx", "decoder.onnx"))


def agreement(rows: list[dict]) -> dict:
    differing = [r["clip"] for r in rows if r["onnx_torch_free_text"] != r["onnx_torch_export_text"]]
    return {"clips": len(rows), "identical_transcripts": len(rows) - len(differing), "differing_clips": differing}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--hwu64", type=int, default=30, help="how many HWU64 test sentences to speak")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="asr-build-") as scratch:
        folders = {name: Path(scratch) / name for name in BUILDERS}
        builds = {name: build_in_child(command, folders[name]) for name, command in BUILDERS.items()}
        identity = weight_identity(folders["torch_export"], folders["torch_free"])
        compressed = gzip_bytes(folders["torch_free"])
        clips = demo_clips() + hwu64_piper_clips(args.hwu64) + human_clips()
        words = installed_vocabulary()
        engines = {
            "faster_whisper": WhisperAsr(AsrSettings(engine="faster-whisper")),
            "onnx_torch_export": OnnxWhisperAsr(AsrSettings(onnx_dir=str(folders["torch_export"]), build_onnx=False), words),
            "onnx_torch_free": OnnxWhisperAsr(AsrSettings(onnx_dir=str(folders["torch_free"]), build_onnx=False), words),
        }
        result = run(clips, engines, args.repeats)
    result.update({
        "builds": builds, "weights": identity, "agreement": agreement(result["clips"]),
        "package_data": {"graphs_bytes": builds["torch_free"]["folder_bytes"], "graphs_gzip_bytes": compressed},
        "settings": {"repeats": args.repeats, "hwu64": args.hwu64, "load_average": list(os.getloadavg())},
    })
    path = write_result("asr_build", result, PACKAGES)
    print("builds", builds)
    print("weights", identity)
    print("agreement", result["agreement"])
    for group, summary in result["groups"].items():
        print(group, summary)
    print(f"written {path}")


if __name__ == "__main__":
    main()
