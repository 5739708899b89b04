"""Read a CTranslate2 Whisper `model.bin` into numpy arrays with openai-whisper's names (no
ctranslate2, no torch).

    dims, state = convert_ct2_to_openai(bundled_whisper_dir() / "model.bin")

The file is a small header (binary version, spec name, spec revision), then each variable as
name, rank, dims, dtype id, byte count and raw little-endian data, then aliases (a name that
points at another variable). This is the layout `ctranslate2.specs.ModelSpec._serialize` writes.

`convert_ct2_to_openai` turns those tensors into openai-whisper's dimensions and state dict:
CTranslate2 fuses self-attention q/k/v into one linear layer (k has no bias: its slot is zero)
and cross-attention k/v into another; this splits them back. The graph builder (build.py) and
distill's PyTorch model (distill/whisper_torch.py) both start from it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from edge.core.errors import ModelLoadError

# The order of CTranslate2's DataType enum (include/ctranslate2/types.h).
_DTYPES = (np.float32, np.int8, np.int16, np.int32, np.float16, None)  # None: bfloat16
SUPPORTED_BINARY_VERSIONS = (5, 6)


class Ct2FormatError(ModelLoadError):
    """The file is not a CTranslate2 model this reader understands."""


@dataclass(frozen=True)
class Ct2Model:
    spec: str  # e.g. "WhisperSpec"
    revision: int
    variables: dict[str, np.ndarray]


def read_ct2_model(path: Path) -> Ct2Model:
    with path.open("rb") as handle:
        version = _unpack(handle, "I")
        if version not in SUPPORTED_BINARY_VERSIONS:
            raise Ct2FormatError(
                f"{path}: CTranslate2 binary version {version} is not supported "
                f"(known: {SUPPORTED_BINARY_VERSIONS}); re-convert the model with ctranslate2 4.x"
            )
        spec = _string(handle)
        revision = _unpack(handle, "I")
        variables: dict[str, np.ndarray] = {}
        for _ in range(_unpack(handle, "I")):
            name = _string(handle)
            rank = _unpack(handle, "B")
            shape = tuple(_unpack(handle, "I") for _ in range(rank))
            type_id = _unpack(handle, "B")
            size = _unpack(handle, "I")
            if type_id >= len(_DTYPES) or _DTYPES[type_id] is None:
                raise Ct2FormatError(
                    f"{path}: variable {name} has data type id {type_id}, which this reader cannot read"
                )
            data = handle.read(size)
            if len(data) != size:
                raise Ct2FormatError(f"{path} is truncated inside variable {name}")
            variables[name] = np.frombuffer(data, dtype=_DTYPES[type_id]).reshape(shape)
        for _ in range(_unpack(handle, "I")):
            alias, target = _string(handle), _string(handle)
            variables[alias] = variables[target]
    return Ct2Model(spec, revision, variables)


def _unpack(handle: BinaryIO, fmt: str) -> int:
    size = struct.calcsize(fmt)
    data = handle.read(size)
    if len(data) != size:
        raise Ct2FormatError("unexpected end of file in the model header")
    return struct.unpack("<" + fmt, data)[0]


def _string(handle: BinaryIO) -> str:
    length = _unpack(handle, "H")
    return handle.read(length)[:-1].decode("utf-8")


class ConversionError(ModelLoadError):
    """The CTranslate2 model is not a Whisper model this converter understands."""


@dataclass(frozen=True)
class ModelDimensions:  # openai-whisper's names
    n_mels: int
    n_audio_ctx: int
    n_audio_state: int
    n_audio_head: int
    n_audio_layer: int
    n_vocab: int
    n_text_ctx: int
    n_text_state: int
    n_text_head: int
    n_text_layer: int


def _count_layers(variables: dict[str, np.ndarray], prefix: str) -> int:
    parts = (name.split("/") for name in variables if name.startswith(prefix + "/layer_"))
    return len({part[1] for part in parts if part[1].removeprefix("layer_").isdigit()})


def convert_ct2_to_openai(model_bin: Path) -> tuple[ModelDimensions, dict[str, np.ndarray]]:
    """openai-whisper dimensions and state dict (float16 numpy arrays) from a CTranslate2 Whisper."""
    model = read_ct2_model(model_bin)
    if model.spec != "WhisperSpec":
        raise ConversionError(f"{model_bin} holds a {model.spec}, not a WhisperSpec")
    v = model.variables
    width = v["encoder/conv1/weight"].shape[0]
    dims = ModelDimensions(
        n_mels=v["encoder/conv1/weight"].shape[1],
        n_audio_ctx=v["encoder/position_encodings/encodings"].shape[0],
        n_audio_state=width,
        n_audio_head=int(v["encoder/num_heads"]),
        n_audio_layer=_count_layers(v, "encoder"),
        n_vocab=v["decoder/embeddings/weight"].shape[0],
        n_text_ctx=v["decoder/position_encodings/encodings"].shape[0],
        n_text_state=width,
        n_text_head=int(v["decoder/num_heads"]),
        n_text_layer=_count_layers(v, "decoder"),
    )
    state = {
        "encoder.conv1.weight": v["encoder/conv1/weight"],
        "encoder.conv1.bias": v["encoder/conv1/bias"],
        "encoder.conv2.weight": v["encoder/conv2/weight"],
        "encoder.conv2.bias": v["encoder/conv2/bias"],
        "encoder.positional_embedding": v["encoder/position_encodings/encodings"],
        "encoder.ln_post.weight": v["encoder/layer_norm/gamma"],
        "encoder.ln_post.bias": v["encoder/layer_norm/beta"],
        "decoder.token_embedding.weight": v["decoder/embeddings/weight"],
        "decoder.positional_embedding": v["decoder/position_encodings/encodings"],
        "decoder.ln.weight": v["decoder/layer_norm/gamma"],
        "decoder.ln.bias": v["decoder/layer_norm/beta"],
    }
    for side, count in (("encoder", dims.n_audio_layer), ("decoder", dims.n_text_layer)):
        for i in range(count):
            state.update(_block(v, f"{side}/layer_{i}", f"{side}.blocks.{i}", cross=side == "decoder"))
    return dims, state


def _block(v: dict[str, np.ndarray], src: str, dst: str, cross: bool) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    qkv_w, qkv_b = v[f"{src}/self_attention/linear_0/weight"], v[f"{src}/self_attention/linear_0/bias"]
    q_w, k_w, v_w = np.split(qkv_w, 3)
    q_b, k_b, v_b = np.split(qkv_b, 3)
    if np.any(k_b):
        raise ConversionError(f"{src}: the fused key bias is not zero; this is not a Whisper model")
    out.update(
        {
            f"{dst}.attn.query.weight": q_w,
            f"{dst}.attn.query.bias": q_b,
            f"{dst}.attn.key.weight": k_w,
            f"{dst}.attn.value.weight": v_w,
            f"{dst}.attn.value.bias": v_b,
            f"{dst}.attn.out.weight": v[f"{src}/self_attention/linear_1/weight"],
            f"{dst}.attn.out.bias": v[f"{src}/self_attention/linear_1/bias"],
            f"{dst}.attn_ln.weight": v[f"{src}/self_attention/layer_norm/gamma"],
            f"{dst}.attn_ln.bias": v[f"{src}/self_attention/layer_norm/beta"],
            f"{dst}.mlp.0.weight": v[f"{src}/ffn/linear_0/weight"],
            f"{dst}.mlp.0.bias": v[f"{src}/ffn/linear_0/bias"],
            f"{dst}.mlp.2.weight": v[f"{src}/ffn/linear_1/weight"],
            f"{dst}.mlp.2.bias": v[f"{src}/ffn/linear_1/bias"],
            f"{dst}.mlp_ln.weight": v[f"{src}/ffn/layer_norm/gamma"],
            f"{dst}.mlp_ln.bias": v[f"{src}/ffn/layer_norm/beta"],
        }
    )
    if cross:
        out.update(_cross_block(v, src, dst))
    return out


def _cross_block(v: dict[str, np.ndarray], src: str, dst: str) -> dict[str, np.ndarray]:
    kv_w, kv_b = v[f"{src}/attention/linear_1/weight"], v[f"{src}/attention/linear_1/bias"]
    ck_w, cv_w = np.split(kv_w, 2)
    ck_b, cv_b = np.split(kv_b, 2)
    if np.any(ck_b):
        raise ConversionError(f"{src}: the fused cross-attention key bias is not zero")
    return {
        f"{dst}.cross_attn.query.weight": v[f"{src}/attention/linear_0/weight"],
        f"{dst}.cross_attn.query.bias": v[f"{src}/attention/linear_0/bias"],
        f"{dst}.cross_attn.key.weight": ck_w,
        f"{dst}.cross_attn.value.weight": cv_w,
        f"{dst}.cross_attn.value.bias": cv_b,
        f"{dst}.cross_attn.out.weight": v[f"{src}/attention/linear_2/weight"],
        f"{dst}.cross_attn.out.bias": v[f"{src}/attention/linear_2/bias"],
        f"{dst}.cross_attn_ln.weight": v[f"{src}/attention/layer_norm/gamma"],
        f"{dst}.cross_attn_ln.bias": v[f"{src}/attention/layer_norm/beta"],
    }
