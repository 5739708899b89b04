"""Whisper's encoder and one-step decoder written as ONNX graphs with `onnx.helper` (no torch).

    encoder, decoder = whisper_graphs(dims, state)       # state: convert_ct2_to_openai's arrays
    onnx.save(encoder, "encoder.onnx")

The graphs take and give exactly what `distill.whisper_export` (the PyTorch export) gives, node for
node in the arithmetic: the same operators in the same order on the same float32 weights (GELU
as x·½·(1+erf(x/√2)), attention scores divided by √depth, the encoder's self-attention as
onnxruntime's MultiHeadAttention), linear weights stored transposed as MatMul initializers and
positional embeddings sliced (never gathered), so onnxruntime's dynamic quantizer turns them into
the same INT8 weights and the transcripts are the same.

    encoder.onnx  mel [1, 80, frames] -> cross_k0.. [1, heads, depth, frames/2], cross_v0.. [1, heads, frames/2, depth]
    decoder.onnx  token [1, 1], self_k/self_v [layers, 1, past, width], cross_k*/cross_v*
                  -> logits [1, vocab], new_self_k/new_self_v [layers, 1, past + 1, width]
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from edge.asr.onnx.ct2 import ModelDimensions

OPSET = 17
IR_VERSION = 8  # what opset 17 needs; onnxruntime reads it on every platform it ships for
LAYER_NORM_EPSILON = 1e-5
CONTRIB = "com.microsoft"  # onnxruntime's own operators (MultiHeadAttention)


class _Graph:
    """Nodes and float32 initializers of one graph, with fresh value names."""

    def __init__(self, state: dict[str, np.ndarray]) -> None:
        from onnx import helper

        self.helper = helper
        self.state = state
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.value_info: list[Any] = []  # types onnx's shape inference cannot know (contrib operators' outputs)
        self._names: set[str] = set()
        self._count = 0

    def _fresh(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def op(self, op_type: str, *inputs: str, name: str = "", domain: str = "", **attributes) -> str:
        output = name or self._fresh(op_type.lower())
        self.nodes.append(self.helper.make_node(op_type, list(inputs), [output], name=output, domain=domain or None,
                                                **attributes))
        return output

    def constant(self, name: str, value: np.ndarray) -> str:
        """An initializer (float32 weights stay float32: the quantizer decides what becomes INT8)."""
        if name not in self._names:
            from onnx import numpy_helper

            self._names.add(name)
            # np.ascontiguousarray would make a scalar [1]: copy into C order instead
            self.initializers.append(numpy_helper.from_array(np.array(value, order="C"), name))
        return name

    def weight(self, key: str, transpose: bool = False) -> str:
        """A tensor of the state dict as float32 (a linear layer's weight transposed: [in, out])."""
        array = np.asarray(self.state[key], dtype=np.float32)
        return self.constant(key + (".T" if transpose else ""), array.T if transpose else array)

    def scalar(self, value: float) -> str:
        return self.constant(f"const_{value!r}", np.array(value, dtype=np.float32))

    def ints(self, *values: int) -> str:
        return self.constant("ints_" + "_".join(str(v) for v in values), np.array(values, dtype=np.int64))

    # Layers, in the arithmetic torch.onnx.export wrote for distill/whisper_torch.py.

    def linear(self, x: str, prefix: str, bias: bool = True) -> str:
        y = self.op("MatMul", x, self.weight(f"{prefix}.weight", transpose=True))
        return self.op("Add", self.weight(f"{prefix}.bias"), y) if bias else y

    def layer_norm(self, x: str, prefix: str) -> str:
        return self.op("LayerNormalization", x, self.weight(f"{prefix}.weight"), self.weight(f"{prefix}.bias"),
                       axis=-1, epsilon=LAYER_NORM_EPSILON)

    def gelu(self, x: str) -> str:
        erf = self.op("Erf", self.op("Div", x, self.scalar(float(np.float32(math.sqrt(2.0))))))
        return self.op("Mul", self.op("Mul", x, self.op("Add", erf, self.scalar(1.0))), self.scalar(0.5))

    def mlp(self, x: str, prefix: str) -> str:
        h = self.gelu(self.linear(self.layer_norm(x, f"{prefix}.mlp_ln"), f"{prefix}.mlp.0"))
        return self.op("Add", x, self.linear(h, f"{prefix}.mlp.2"))

    def heads(self, x: str, dims: ModelDimensions, perm: tuple[int, ...], name: str = "") -> str:
        """[1, n, width] -> [1, n, heads, depth] transposed by `perm`."""
        depth = dims.n_text_state // dims.n_text_head
        split = self.op("Reshape", x, self.ints(0, 0, dims.n_text_head, depth), allowzero=0)
        return self.op("Transpose", split, name=name, perm=list(perm))

    def attend(self, q: str, k_heads: str, v_heads: str, dims: ModelDimensions, out: str) -> str:
        """softmax(q·k / √depth)·v over heads, then the output projection."""
        depth = dims.n_text_state // dims.n_text_head
        q_heads = self.heads(q, dims, (0, 2, 1, 3))
        scores = self.op("Div", self.op("MatMul", q_heads, k_heads), self.scalar(float(math.sqrt(depth))))
        mixed = self.op("MatMul", self.op("Softmax", scores, axis=-1), v_heads)
        merged = self.op("Reshape", self.op("Transpose", mixed, perm=[0, 2, 1, 3]), self.ints(0, 0, dims.n_text_state),
                         allowzero=0)
        return self.linear(merged, out)

    def model(self, name: str, inputs: list, outputs: list, contrib: bool = False):
        helper = self.helper
        graph = helper.make_graph(self.nodes, name, inputs, outputs, self.initializers, value_info=self.value_info)
        opsets = [helper.make_opsetid("", OPSET)] + ([helper.make_opsetid(CONTRIB, 1)] if contrib else [])
        model = helper.make_model(graph, opset_imports=opsets, producer_name="edge.asr.onnx.graphs")
        model.ir_version = IR_VERSION
        return model


def _tensor(name: str, elem_type: int, shape: list) -> Any:
    from onnx import helper

    return helper.make_tensor_value_info(name, elem_type, shape)


def encoder_graph(dims: ModelDimensions, state: dict[str, np.ndarray]):
    """mel -> the cross-attention keys and values of every decoder layer, split into heads."""
    from onnx import TensorProto

    g = _Graph(state)
    x = g.gelu(g.op("Conv", "mel", g.weight("encoder.conv1.weight"), g.weight("encoder.conv1.bias"),
                    dilations=[1], group=1, kernel_shape=[3], pads=[1, 1], strides=[1]))
    x = g.gelu(g.op("Conv", x, g.weight("encoder.conv2.weight"), g.weight("encoder.conv2.bias"),
                    dilations=[1], group=1, kernel_shape=[3], pads=[1, 1], strides=[2]))
    x = g.op("Transpose", x, perm=[0, 2, 1])
    positions = g.op("Shape", x, start=1, end=2)
    x = g.op("Add", x, g.op("Slice", g.weight("encoder.positional_embedding"), g.ints(0), positions, g.ints(0), g.ints(1)))
    for i in range(dims.n_audio_layer):
        prefix = f"encoder.blocks.{i}"
        h = g.layer_norm(x, f"{prefix}.attn_ln")
        q, k, v = (g.linear(h, f"{prefix}.attn.{part}", bias=part != "key") for part in ("query", "key", "value"))
        attended = g.op("MultiHeadAttention", q, k, v, domain=CONTRIB, num_heads=dims.n_audio_head)
        g.value_info.append(_tensor(attended, TensorProto.FLOAT, [1, "positions", dims.n_audio_state]))
        x = g.op("Add", x, g.linear(attended, f"{prefix}.attn.out"))
        x = g.mlp(x, prefix)
    x = g.layer_norm(x, "encoder.ln_post")
    depth = dims.n_text_state // dims.n_text_head
    outputs_k, outputs_v = [], []
    for i in range(dims.n_text_layer):
        prefix = f"decoder.blocks.{i}.cross_attn"
        g.heads(g.linear(x, f"{prefix}.key", bias=False), dims, (0, 2, 3, 1), name=f"cross_k{i}")
        g.heads(g.linear(x, f"{prefix}.value"), dims, (0, 2, 1, 3), name=f"cross_v{i}")
        outputs_k.append(_tensor(f"cross_k{i}", TensorProto.FLOAT, [1, dims.n_text_head, depth, "positions"]))
        outputs_v.append(_tensor(f"cross_v{i}", TensorProto.FLOAT, [1, dims.n_text_head, "positions", depth]))
    mel = _tensor("mel", TensorProto.FLOAT, [1, dims.n_mels, "frames"])
    return g.model("whisper_encoder", [mel], outputs_k + outputs_v, contrib=True)


def decoder_graph(dims: ModelDimensions, state: dict[str, np.ndarray]):
    """One token and the self-attention cache -> next-token logits and the grown cache."""
    from onnx import TensorProto

    g = _Graph(state)
    past = g.op("Shape", "self_k", start=2, end=3)
    position = g.op("Slice", g.weight("decoder.positional_embedding"), past, g.op("Add", past, g.ints(1)),
                    g.ints(0), g.ints(1))
    x = g.op("Add", g.op("Gather", g.weight("decoder.token_embedding.weight"), "token"), position)
    new_k, new_v = [], []
    for i in range(dims.n_text_layer):
        prefix = f"decoder.blocks.{i}"
        h = g.layer_norm(x, f"{prefix}.attn_ln")
        layer = g.constant(f"layer_{i}", np.array(i, dtype=np.int64))
        k = g.op("Concat", g.op("Gather", "self_k", layer, axis=0), g.linear(h, f"{prefix}.attn.key", bias=False), axis=1)
        v = g.op("Concat", g.op("Gather", "self_v", layer, axis=0), g.linear(h, f"{prefix}.attn.value"), axis=1)
        q = g.linear(h, f"{prefix}.attn.query")
        x = g.op("Add", x, g.attend(q, g.heads(k, dims, (0, 2, 3, 1)), g.heads(v, dims, (0, 2, 1, 3)), dims,
                                    f"{prefix}.attn.out"))
        q = g.linear(g.layer_norm(x, f"{prefix}.cross_attn_ln"), f"{prefix}.cross_attn.query")
        x = g.op("Add", x, g.attend(q, f"cross_k{i}", f"cross_v{i}", dims, f"{prefix}.cross_attn.out"))
        x = g.mlp(x, prefix)
        new_k.append(g.op("Unsqueeze", k, g.ints(0)))
        new_v.append(g.op("Unsqueeze", v, g.ints(0)))
    last = g.op("Gather", g.layer_norm(x, "decoder.ln"), g.constant("last", np.array(-1, dtype=np.int64)), axis=1)
    g.op("MatMul", last, g.weight("decoder.token_embedding.weight", transpose=True), name="logits")
    g.op("Concat", *new_k, name="new_self_k", axis=0)
    g.op("Concat", *new_v, name="new_self_v", axis=0)
    depth = dims.n_text_state // dims.n_text_head
    cache = [dims.n_text_layer, 1, "past", dims.n_text_state]
    inputs = [
        _tensor("token", TensorProto.INT64, [1, 1]),
        _tensor("self_k", TensorProto.FLOAT, cache),
        _tensor("self_v", TensorProto.FLOAT, cache),
        *(_tensor(f"cross_k{i}", TensorProto.FLOAT, [1, dims.n_text_head, depth, "positions"])
          for i in range(dims.n_text_layer)),
        *(_tensor(f"cross_v{i}", TensorProto.FLOAT, [1, dims.n_text_head, "positions", depth])
          for i in range(dims.n_text_layer)),
    ]
    grown = [dims.n_text_layer, 1, "past_plus_one", dims.n_text_state]
    outputs = [_tensor("logits", TensorProto.FLOAT, [1, dims.n_vocab]), _tensor("new_self_k", TensorProto.FLOAT, grown),
               _tensor("new_self_v", TensorProto.FLOAT, grown)]
    return g.model("whisper_decoder", inputs, outputs)


def whisper_graphs(dims: ModelDimensions, state: dict[str, np.ndarray]):
    """(encoder, decoder) as float32 `onnx.ModelProto`s."""
    return encoder_graph(dims, state), decoder_graph(dims, state)
