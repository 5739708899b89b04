"""RK3588 NPU path, checked in rknn-toolkit2's x86 simulator (run with .venv-rknn's python):

    PYTHONPATH=. .venv-rknn/bin/python -m devices.rknn_check --onnx FP32.onnx --out bench/results/agreement_rknn_sim.json

Converts a bundle's *float* ONNX model (the shipped dynamic-INT8 one is refused by the toolkit)
to `.rknn` for the rk3588 profile: INT8 calibrated on HWU64 validation utterances (the profile's
`calibration_samples`), fixed shape [1, max_sequence_length]; then runs the HWU64 test split in
the simulator and writes predictions in `devices.agreement`'s format for `--compare`.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)


class RknnError(Exception):
    """rknn-toolkit2 is missing or refused a step; the message names the file."""


def _encoder(bundle_dir: Path, length: int):
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(bundle_dir / "tokenizer.json"))
    tokenizer.enable_truncation(length)
    tokenizer.enable_padding(length=length)

    def encode(text: str) -> list[np.ndarray]:
        from edge.nlu.text import normalize_utterance

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


def convert_and_run(onnx_path: Path, bundle_dir: Path, data_dir: Path | None, work: Path,
                    quantize: bool = True) -> dict[str, Any]:
    try:
        from rknn.api import RKNN
    except ImportError as error:
        raise RknnError(f"rknn-toolkit2 is not importable ({error}); run with .venv-rknn/bin/python (make rknn)") from error
    from devices.bench import hwu64_test_file, read_sentences
    from devices.profile import load_profiles

    profile = load_profiles()["rk3588"]
    length = profile.operators.max_sequence_length
    encode = _encoder(bundle_dir, length)
    test_file = hwu64_test_file(data_dir)
    valid = read_sentences(test_file.with_name("valid.tsv"), profile.quantization.calibration_samples)
    rknn = RKNN(verbose=False)
    rknn.config(target_platform="rk3588", quantized_dtype="w8a8", optimization_level=2)
    if rknn.load_onnx(model=str(onnx_path), inputs=["input_ids", "attention_mask"],
                      input_size_list=[[1, length], [1, length]]) != 0:
        raise RknnError(f"rknn-toolkit2 could not load {onnx_path} (see its log above)")
    dataset = _calibration_list(encode, valid, work / "calibration") if quantize else None
    if rknn.build(do_quantization=quantize, dataset=str(dataset) if dataset else None) != 0:
        raise RknnError(f"rknn-toolkit2 could not build {onnx_path} for rk3588 (see its log above)")
    rknn_path = work / f"{onnx_path.stem}.rknn"
    rknn.export_rknn(str(rknn_path))
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
    return {
        "provider_asked": "rknn-simulator", "session_providers": ["RKNN-simulator-rk3588"],
        "quantization": f"w8a8 static, {len(valid)} calibration utterances" if quantize else "none (fp16)",
        "onnxruntime": "n/a", "machine": "rk3588 simulator on x86_64", "bundle": str(bundle_dir),
        "rknn_file": str(rknn_path), "rknn_bytes": rknn_path.stat().st_size,
        "accuracy": round(sum(row["intent"] == row["label"] for row in rows) / len(rows), 4),
        "predictions": rows,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devices.rknn_check", description=__doc__.split("\n\n")[0])
    parser.add_argument("--onnx", type=Path, required=True, help="the bundle's float ONNX model")
    parser.add_argument("--bundle", type=Path, default=Path("edge/models/hwu64-minilm-int8"),
                        help="bundle folder for tokenizer.json and labels.json")
    parser.add_argument("--data", type=Path, help="shared data folder (default $EDGE_DATA_DIR, else ../shared/data)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/edge-rknn"), help="scratch folder")
    parser.add_argument("--no-quantization", action="store_true", help="fp16 on the NPU instead of INT8")
    parser.add_argument("--out", type=Path, required=True, help="predictions (JSON) for devices.agreement --compare")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        result = convert_and_run(args.onnx, args.bundle, args.data, args.work, quantize=not args.no_quantization)
    except RknnError as error:
        print(f"devices.rknn_check: {error}", file=sys.stderr)
        return 1
    result["command"] = " ".join(["python", "-m", "devices.rknn_check", *(argv or sys.argv[1:])])
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"rk3588 simulator: accuracy {result['accuracy']} over {len(result['predictions'])} sentences "
          f"({result['quantization']}); {result['rknn_file']} {result['rknn_bytes']} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
