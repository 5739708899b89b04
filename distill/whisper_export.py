"""Export the bundled Whisper (CTranslate2 fp16) to ONNX through PyTorch: the reference for the runtime's own build.

The runtime builds the same graphs without torch (edge/asr/onnx/build.py, on first use);
this export is what they are checked against (tests/asr/test_asr_onnx_build.py, bench.asr_speed).

    python -m distill.whisper_export [--model-dir DIR] [--out DIR] [--openai-checkpoint tiny.en.pt]

Writes `encoder.onnx` (mel [1, 80, frames] -> cross-attention keys/values for every decoder
layer; any even number of frames up to 3000, so the device encodes only the audio spoken),
`decoder.onnx` (one token + self-attention cache -> next-token logits + grown cache; the
cross-attention keys/values come per layer, already split into heads),
`tokenizer.json`, `config.json` and `whisper_onnx.json` (dimensions, the sha256 of the source
model.bin, quantisation, the command and versions that made it). Both graphs are quantised to
INT8 (dynamic, MatMul and Gather weights) with onnxruntime. Nothing is rewritten when the folder
already matches the source model. The default folder is the reference's own
(~/.cache/edge/whisper-onnx/tiny.en-torch-int8), never the runtime's cache.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import logging
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from distill.whisper_torch import TorchWhisper, convert_ct2_to_openai, save_openai_checkpoint
from edge.asr.onnx.artifacts import FP32, INT8, default_onnx_dir, problem, read_manifest, source_fields, write_manifest

logger = logging.getLogger(__name__)


def reference_dir(quantized: bool = True) -> Path:
    """Where the PyTorch export goes by default: beside the runtime's own build, never over it."""
    return default_onnx_dir(quantized, model_name="tiny.en-torch")


def up_to_date(model_dir: Path, out_dir: Path, quantize: bool) -> bool:
    manifest = read_manifest(out_dir)
    return (
        problem(out_dir, model_dir / "model.bin") is None
        and manifest is not None
        and manifest.get("quantization") == (INT8 if quantize else FP32)
    )


def _export_graphs(model: TorchWhisper, folder: Path) -> None:
    dims = model.dims
    layers = range(dims.n_text_layer)
    cross_names = [f"cross_k{i}" for i in layers] + [f"cross_v{i}" for i in layers]
    mel = torch.zeros(1, dims.n_mels, 1000)
    keys, values = model.encode_cross(mel)
    positions = {f"cross_k{i}": {3: "positions"} for i in layers} | {f"cross_v{i}": {2: "positions"} for i in layers}
    torch.onnx.export(
        _EncoderGraph(model),
        (mel,),
        str(folder / "encoder.onnx"),
        dynamo=False,
        opset_version=17,
        input_names=["mel"],
        output_names=cross_names,
        dynamic_axes={"mel": {2: "frames"}, **positions},
    )
    cache = torch.zeros(dims.n_text_layer, 1, 3, dims.n_text_state)
    torch.onnx.export(
        _DecoderGraph(model),
        (torch.tensor([[50257]]), cache, cache, *keys, *values),
        str(folder / "decoder.onnx"),
        dynamo=False,
        opset_version=17,
        input_names=["token", "self_k", "self_v", *cross_names],
        output_names=["logits", "new_self_k", "new_self_v"],
        dynamic_axes={
            "self_k": {2: "past"},
            "self_v": {2: "past"},
            **positions,
            "new_self_k": {2: "past_plus_one"},
            "new_self_v": {2: "past_plus_one"},
        },
    )


class _EncoderGraph(torch.nn.Module):
    def __init__(self, model: TorchWhisper) -> None:
        super().__init__()
        self.model = model

    def forward(self, mel):
        keys, values = self.model.encode_cross(mel)
        return (*keys, *values)


class _DecoderGraph(torch.nn.Module):
    def __init__(self, model: TorchWhisper) -> None:
        super().__init__()
        self.model = model

    def forward(self, token, self_k, self_v, *cross):
        layers = len(cross) // 2
        return self.model.step(token, self_k, self_v, list(cross[:layers]), list(cross[layers:]))


def _quantize(source: Path, target: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(source),
        str(target),
        weight_type=QuantType.QInt8,
        op_types_to_quantize=INT8["op_types"],
        per_channel=INT8["per_channel"][source.name],
    )


def export(model_dir: Path, out_dir: Path, quantize: bool = True, openai_checkpoint: Path | None = None) -> Path:
    dims, state = convert_ct2_to_openai(model_dir / "model.bin")
    if openai_checkpoint is not None:
        save_openai_checkpoint(dims, state, openai_checkpoint)
        logger.info("wrote openai-whisper checkpoint %s", openai_checkpoint)
    if up_to_date(model_dir, out_dir, quantize):
        logger.info("%s is up to date", out_dir)
        return out_dir
    torch.set_num_threads(min(2, torch.get_num_threads()))
    model = TorchWhisper(dims, state)
    model.fused_attention = True  # encoder self-attention as onnxruntime's MultiHeadAttention (exact in fp32)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir.parent) as scratch_name:
        scratch = Path(scratch_name)
        fp32, final = scratch / "fp32", scratch / "final"
        fp32.mkdir()
        final.mkdir()
        with torch.inference_mode():
            _export_graphs(model, fp32)
        for name in ("encoder.onnx", "decoder.onnx"):
            if quantize:
                _quantize(fp32 / name, final / name)
            else:
                shutil.copy(fp32 / name, final / name)
        for name in ("tokenizer.json", "config.json"):
            shutil.copy(model_dir / name, final / name)
        write_manifest(final, {
            "dims": dims.__dict__,
            **source_fields(model_dir / "model.bin"),
            "quantization": INT8 if quantize else FP32,
            "builder": "distill.whisper_export (torch.onnx.export)",
            "command": " ".join([Path(sys.executable).name, "-m", "distill.whisper_export", *sys.argv[1:]]),
            "versions": {name: importlib.metadata.version(name) for name in ("torch", "onnx", "onnxruntime")},
        })
        if out_dir.exists():
            shutil.rmtree(out_dir)
        final.rename(out_dir)
    logger.info("exported Whisper to %s", out_dir)
    return out_dir


def main(argv: list[str] | None = None) -> int:
    from edge.asr import bundled_whisper_dir

    parser = argparse.ArgumentParser(prog="python -m distill.whisper_export", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, help="CTranslate2 Whisper folder (default: the bundled tiny.en)")
    parser.add_argument("--out", type=Path, help=f"output folder (default: {reference_dir()})")
    parser.add_argument("--fp32", action="store_true", help="keep float32 weights (no INT8 quantisation)")
    parser.add_argument("--openai-checkpoint", type=Path, help="also write an openai-whisper .pt checkpoint here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    model_dir = args.model_dir or bundled_whisper_dir()
    out = args.out or reference_dir(quantized=not args.fp32)
    export(model_dir, out, quantize=not args.fp32, openai_checkpoint=args.openai_checkpoint)
    print(out)
    return 0


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    sys.exit(main())
