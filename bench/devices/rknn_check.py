"""RK3588 NPU path, checked in rknn-toolkit2's x86 simulator (run with .venv-rknn's python):

    PYTHONPATH=. .venv-rknn/bin/python -m bench.devices.rknn_check --bundle BUNDLE --out bench/results/agreement_rknn_sim.json

Converts a bundle's model to `.rknn` for the rk3588 profile. The toolkit refuses onnxruntime's
dynamic INT8 operators, so the bundle's `model.onnx` is first rewritten to float with the same
weights (`bench.devices.dequantize`; or pass `--onnx FLOAT.onnx`). Then INT8 calibrated on HWU64
validation utterances (the profile's `calibration_samples`), fixed shape [1, max_sequence_length],
with the fused attention, residual Adds and LayerNorms kept in fp16 (hybrid quantization; `--mode int8` for INT8
everywhere, `--mode fp16` for none); then the HWU64 test split runs in the simulator and the
predictions are written in `bench.devices.agreement`'s format for `--compare`. The `.rknn` file is left
in `--work`; on a board it goes into the bundle as `model.rknn` (see devices/rknn_runtime.py).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)


MODES = ("hybrid", "int8", "fp16")
# The toolkit fuses each attention block into one exSDPAttention layer; in INT8 its attention
# scores lose all resolution (one scale must cover the mask's -10000 and scores of a few units),
# so accuracy falls to chance. Those, the residual Adds (BERT's outlier channels live in the
# residual stream) and the LayerNorms stay in fp16; every MatMul (the NPU's Conv) and GELU is INT8.
FLOAT16_LAYERS = r"_sdpa$|(?<!value)/Add_output_0-rs$|LayerNorm"
# Measured on HWU64 (hybrid; top-intent agreement with the CPU bundle): kl_divergence 97.8-98.1%,
# normal (min/max) 97.6%; 600 calibration utterances a little better than 200. "mmse" crashes inside
# rknn-toolkit2 2.5.0 (UnboundLocalError in its MmseQuant2 thread with these int64 token inputs).
ALGORITHM = "kl_divergence"


class RknnError(Exception):
    """rknn-toolkit2 is missing or refused a step; the message names the file."""


def _encoder(bundle_dir: Path, length: int):
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(bundle_dir / "tokenizer.json"))
    tokenizer.enable_truncation(length)
    tokenizer.enable_padding(length=length)

    def encode(text: str) -> list[np.ndarray]:
        from edge.core.text.normalize import normalize_utterance

        encoding = tokenizer.encode(normalize_utterance(text))
        return [np.asarray([encoding.ids], dtype=np.int64), np.asarray([encoding.attention_mask], dtype=np.int64)]

    return encode


def _calibration_list(encode, sentences: list[tuple[str, str]], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for index, (text, _) in enumerate(sentences):
        ids, mask = encode(text)
        np.save(folder / f"{index}_ids.npy", ids)
        np.save(folder / f"{index}_mask.npy", mask)
        lines.append(f"{folder / f'{index}_ids.npy'} {folder / f'{index}_mask.npy'}")
    listing = folder / "dataset.txt"
    listing.write_text("\n".join(lines) + "\n")
    return listing


def convert_and_run(onnx_path: Path | None, bundle_dir: Path, data_dir: Path | None, work: Path,
                    mode: str = "hybrid", algorithm: str = ALGORITHM, calibration: int = 0,
                    float16_layers: str = FLOAT16_LAYERS) -> dict[str, Any]:
    """`mode`: int8 (w8a8 everywhere), hybrid (w8a8 but layers matching `float16_layers` in fp16),
    fp16 (no quantization). `onnx_path`: a float model; None: the bundle's own, dequantized."""
    try:
        from rknn.api import RKNN
    except ImportError as error:
        raise RknnError(f"rknn-toolkit2 is not importable ({error}); run with .venv-rknn/bin/python (make rknn)") from error
    from bench.devices.bench import hwu64_test_file, read_sentences
    from devices.profile import load_profiles

    if mode not in MODES:
        raise RknnError(f"mode {mode!r}; use one of {', '.join(MODES)}")
    profile = load_profiles()["rk3588"]
    # the fixed NPU input shape: the profile's, unless the bundle's model is shorter (a distilled
    # student keeps only max_length position embeddings)
    bundle_length = json.loads((bundle_dir / "bundle.json").read_text()).get("max_length")
    length = min(profile.operators.max_sequence_length, bundle_length or profile.operators.max_sequence_length)
    work.mkdir(parents=True, exist_ok=True)
    source = onnx_path or _dequantized(bundle_dir, work)
    encode = _encoder(bundle_dir, length)
    test_file = hwu64_test_file(data_dir)
    valid = read_sentences(test_file.with_name("valid.tsv"), calibration or profile.quantization.calibration_samples)
    dataset = _calibration_list(encode, valid, work / f"calibration-{len(valid)}") if mode != "fp16" else None
    rknn = _build(RKNN, source, length, mode, algorithm, dataset, float16_layers, work)
    rknn_path = work / "model.rknn"
    if rknn.export_rknn(str(rknn_path)) != 0:
        raise RknnError(f"rknn-toolkit2 could not write {rknn_path}")
    if rknn.init_runtime() != 0:
        raise RknnError("rknn-toolkit2's simulator did not start")
    intents = json.loads((bundle_dir / "labels.json").read_text())["intents"]
    temperature = json.loads((bundle_dir / "bundle.json").read_text())["temperature"]
    rows = []
    for text, label in read_sentences(test_file, 0):
        logits = np.asarray(rknn.inference(inputs=encode(text), data_format="nchw")[0][0], dtype=np.float64)
        scaled = np.exp((logits - logits.max()) / temperature)
        rows.append({"text": text, "label": label, "intent": intents[int(np.argmax(logits))],
                     "confidence": round(float(scaled.max() / scaled.sum()), 4)})
    rknn.release()
    reference = _float_reference(source, encode, rows, intents)
    described = {
        "int8": f"w8a8 ({algorithm}, {len(valid)} calibration utterances)",
        "hybrid": f"w8a8 ({algorithm}, {len(valid)} calibration utterances), "
                  + ("attention, residual Adds and LayerNorms in fp16" if float16_layers == FLOAT16_LAYERS
                     else f"{float16_layers!r} in fp16"),
        "fp16": "fp16, no quantization",
    }[mode]
    return {
        "provider_asked": "rknn-simulator", "session_providers": ["RKNN-simulator-rk3588"],
        "model": f"{described}, from {'the bundle, dequantized' if onnx_path is None else onnx_path.name}",
        "quantization": {"mode": mode, "algorithm": algorithm, "calibration_utterances": len(valid) if dataset else 0,
                         "float16_layers": float16_layers if mode == "hybrid" else "", "shape": [1, length]},
        "onnxruntime": "n/a", "machine": "rk3588 simulator on x86_64", "bundle": str(bundle_dir),
        "rknn_file": str(rknn_path), "rknn_bytes": rknn_path.stat().st_size,
        "accuracy": round(sum(row["intent"] == row["label"] for row in rows) / len(rows), 4),
        "float_reference": reference,
        "predictions": rows,
    }


def _float_reference(source: Path, encode, rows: list[dict[str, Any]], intents: list[str]) -> dict[str, Any]:
    """The float model the NPU started from, on onnxruntime's CPU with the same padded inputs:
    how much of the difference from the CPU bundle is the NPU's own quantization."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(source), providers=["CPUExecutionProvider"])
    same = correct = 0
    for row in rows:
        ids, mask = encode(row["text"])
        logits = session.run(["intent_logits"], {"input_ids": ids, "attention_mask": mask})[0][0]
        intent = intents[int(np.argmax(logits))]
        same += intent == row["intent"]
        correct += intent == row["label"]
    return {"model": f"{source.name} on onnxruntime {onnxruntime.__version__} CPU, float32",
            "accuracy": round(correct / len(rows), 4), "agreement_with_simulator": round(same / len(rows), 4)}


def _dequantized(bundle_dir: Path, work: Path) -> Path:
    from bench.devices.dequantize import DequantizeError, dequantize_model

    target = work / "model-float.onnx"
    try:
        dequantize_model(bundle_dir / "model.onnx", target)
    except DequantizeError as error:
        raise RknnError(str(error)) from error
    return target


def _build(rknn_class, source: Path, length: int, mode: str, algorithm: str, dataset: Path | None,
           float16_layers: str, work: Path):
    """A built RKNN object. Hybrid: step 1 writes the quantization config, the layers matching
    `float16_layers` are set to float16 in it, step 2 builds from it."""
    rknn = rknn_class(verbose=False)
    rknn.config(target_platform="rk3588", quantized_dtype="w8a8", quantized_algorithm=algorithm,
                quantized_method="channel", optimization_level=2 if mode == "fp16" else 3)
    if rknn.load_onnx(model=str(source), inputs=["input_ids", "attention_mask"],
                      input_size_list=[[1, length], [1, length]]) != 0:
        raise RknnError(f"rknn-toolkit2 could not load {source} (see its log above)")
    if mode != "hybrid":
        if rknn.build(do_quantization=mode == "int8", dataset=str(dataset) if dataset else None) != 0:
            raise RknnError(f"rknn-toolkit2 could not build {source} for rk3588 (see its log above)")
        return rknn
    here = Path.cwd()
    os.chdir(work)  # step 1 writes its files into the working folder
    try:
        if rknn.hybrid_quantization_step1(dataset=str(dataset), proposal=False) != 0:
            raise RknnError(f"rknn-toolkit2's hybrid quantization step 1 failed on {source}")
        rknn.release()
        config = work / f"{source.stem}.quantization.cfg"
        chosen = set_float16_layers(config, float16_layers)
        logger.info("hybrid quantization: %d layers in fp16 (%s)", len(chosen), float16_layers)
        rknn = rknn_class(verbose=False)
        if rknn.hybrid_quantization_step2(model_input=f"{source.stem}.model", data_input=f"{source.stem}.data",
                                          model_quantization_cfg=str(config)) != 0:
            raise RknnError(f"rknn-toolkit2's hybrid quantization step 2 failed on {config}")
    finally:
        os.chdir(here)
    return rknn


def set_float16_layers(config: Path, pattern: str) -> list[str]:
    """Rewrite the step-1 config's `custom_quantize_layers` to the layers matching `pattern`."""
    text = config.read_text()
    first, _, rest = text.partition("\n")
    if not first.startswith("custom_quantize_layers:"):
        raise RknnError(f"{config} does not start with custom_quantize_layers (another toolkit version?)")
    names = sorted(set(re.findall(r"^    (/\S+):$", rest, re.M)))
    chosen = [name for name in names if re.search(pattern, name)]
    if not chosen:
        raise RknnError(f"no layer in {config} matches {pattern!r}")
    config.write_text("custom_quantize_layers:\n" + "".join(f"    {name}: float16\n" for name in chosen) + rest)
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.devices.rknn_check", description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", type=Path, default=Path("edge/models/hwu64-minilm-int8"),
                        help="the intent bundle (default: the shipped one)")
    parser.add_argument("--onnx", type=Path, help="a float ONNX model to convert instead of the bundle's own, dequantized")
    parser.add_argument("--mode", choices=MODES, default="hybrid",
                        help="hybrid: INT8 with attention, residual Adds and LayerNorms in fp16 (default); "
                        "int8: INT8 everywhere; fp16")
    parser.add_argument("--algorithm", choices=("normal", "mmse", "kl_divergence"), default=ALGORITHM,
                        help=f"rknn-toolkit2's quantized_algorithm (default {ALGORITHM})")
    parser.add_argument("--calibration", type=int, default=0,
                        help="HWU64 validation utterances to calibrate on (default: the rk3588 profile's)")
    parser.add_argument("--float16-layers", default=FLOAT16_LAYERS,
                        help=f"hybrid: regular expression of the layers kept in fp16 (default {FLOAT16_LAYERS})")
    parser.add_argument("--data", type=Path, help="shared data folder (default $EDGE_DATA_DIR, else ../shared/data)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/edge-rknn"),
                        help="scratch folder; model.rknn is written here (copy it into the bundle for a board)")
    parser.add_argument("--out", type=Path, required=True, help="predictions (JSON) for bench.devices.agreement --compare")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        result = convert_and_run(args.onnx, args.bundle, args.data, args.work, args.mode, args.algorithm,
                                 args.calibration, args.float16_layers)
    except RknnError as error:
        print(f"bench.devices.rknn_check: {error}", file=sys.stderr)
        return 1
    result["command"] = " ".join(["python", "-m", "bench.devices.rknn_check", *(argv or sys.argv[1:])])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"rk3588 simulator: accuracy {result['accuracy']} over {len(result['predictions'])} sentences "
          f"({result['model']}); {result['rknn_file']} {result['rknn_bytes']} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
