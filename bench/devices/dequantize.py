"""A float ONNX graph from a bundle's dynamic-INT8 `model.onnx`, carrying the same INT8 weights.

NPU toolchains (rknn-toolkit2) quantize a *float* model themselves and refuse onnxruntime's
dynamic INT8 operators (DynamicQuantizeLinear, MatMulInteger). Rather than keep the float
model beside every bundle, this rewrites the shipped one back to float:

- `MatMulInteger(DynamicQuantizeLinear(x), W_q)` -> `Cast -> Mul(scales)` becomes
  `MatMul(x, (W_q - zero_point) * scale)`, the scales' product replaced by 1;
- `DequantizeLinear(Gather(E_q, ids))` (quantized embeddings) becomes `Gather(E, ids)`;
- the attention mask's "minus infinity" (float32's lowest, which makes any INT8 range useless)
  becomes `mask_value`.

The weights are exactly the values the CPU bundle multiplies by, so the NPU starts from what
the device would run, not from an older float checkpoint. Needs only `onnx` and numpy.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

MASK_VALUE = -10000.0  # what BERT used before float32's lowest; exp(-10000) is 0 in fp16 too
_HUGE_NEGATIVE = -1e30


class DequantizeError(Exception):
    """The graph has an INT8 pattern this rewrite does not know; the message names the node."""


def dequantize_model(source: Path, target: Path, mask_value: float = MASK_VALUE) -> dict[str, int]:
    """Write the float rewrite of `source` to `target`; return what was changed."""
    import onnx

    model = onnx.load(str(source))
    rewriter = _Rewriter(model.graph, source)
    for node in list(model.graph.node):
        if node.op_type == "MatMulInteger":
            rewriter.matmul(node)
        elif node.op_type == "DequantizeLinear":
            rewriter.embedding(node)
        elif node.op_type == "Constant":
            rewriter.mask(node, mask_value)
    if rewriter.counts["matmul"] == 0:
        raise DequantizeError(f"{source} has no MatMulInteger: is it already a float model? Pass it as is")
    rewriter.finish()
    onnx.checker.check_model(model)
    target.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(target))
    logger.info("dequantized %s -> %s: %s", source, target, rewriter.counts)
    return rewriter.counts


class _Rewriter:
    """Collects node replacements (None: drop), then rebuilds the graph without dead nodes."""

    def __init__(self, graph, source: Path) -> None:
        self.graph, self.source = graph, source
        self.inits = {item.name: item for item in graph.initializer}
        self.producer = {output: node for node in graph.node for output in node.output}
        self.consumers: dict[str, list] = {}
        for node in graph.node:
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)
        self.replaced: dict[str, object] = {}
        self.counts = {"matmul": 0, "embedding": 0, "mask": 0}

    def array(self, name: str) -> np.ndarray:
        from onnx import numpy_helper

        if name in self.inits:
            return numpy_helper.to_array(self.inits[name])
        node = self.producer.get(name)
        if node is not None and node.op_type == "Constant":
            return numpy_helper.to_array(node.attribute[0].t)
        raise DequantizeError(f"{self.source}: {name} is not a constant")

    def float_of(self, name: str, inputs: list[str], where: str) -> str:
        """The float tensor behind quantized input `name`: the DynamicQuantizeLinear's input, or
        a new initializer with the dequantized weights (zero point two inputs further on)."""
        from onnx import numpy_helper

        maker = self.producer.get(name)
        if maker is not None and maker.op_type == "DynamicQuantizeLinear":
            return maker.input[0]
        if name not in self.inits:
            raise DequantizeError(f"{self.source}: {where} takes {name}, which is neither a DynamicQuantizeLinear "
                                  "output nor a weight")
        position = inputs.index(name)
        zero_point = self.array(inputs[position + 2]) if len(inputs) > position + 2 and inputs[position + 2] else 0
        scale = self.array(name.removesuffix("_quantized") + "_scale").astype(np.float32)
        weights = (self.array(name).astype(np.float32) - np.asarray(zero_point, np.float32)) * scale
        float_name = name.removesuffix("_quantized") + "_dequantized"
        self.graph.initializer.append(numpy_helper.from_array(weights.astype(np.float32), float_name))
        return float_name

    def matmul(self, node) -> None:
        from onnx import helper, numpy_helper

        key = _key(node)
        cast = _only(self.consumers.get(node.output[0], []), "Cast", self.source, node)
        mul = _only(self.consumers.get(cast.output[0], []), "Mul", self.source, cast)
        scales = next(name for name in mul.input if name != cast.output[0])
        inputs = list(node.input)
        left, right = self.float_of(inputs[0], inputs, key), self.float_of(inputs[1], inputs, key)
        self.replaced[key] = helper.make_node("MatMul", [left, right], [cast.output[0]], name=key + "_float")
        self.replaced[_key(cast)] = None
        one = numpy_helper.from_array(np.array(1.0, dtype=np.float32))
        self.replaced[_key(self.producer[scales])] = helper.make_node(
            "Constant", [], [scales], value=one, name=scales + "_one")
        self.counts["matmul"] += 1

    def embedding(self, node) -> None:
        from onnx import helper

        gather = self.producer.get(node.input[0])
        if gather is None or gather.op_type != "Gather" or gather.input[0] not in self.inits:
            raise DequantizeError(f"{self.source}: DequantizeLinear {_key(node)} does not follow a weight Gather")
        zero_point = node.input[2] if len(node.input) > 2 else ""
        table = self.float_of(gather.input[0], [gather.input[0], "", zero_point], _key(gather))
        self.replaced[_key(gather)] = helper.make_node(
            "Gather", [table, gather.input[1]], [node.output[0]], name=_key(gather) + "_float",
            axis=next((item.i for item in gather.attribute if item.name == "axis"), 0))
        self.replaced[_key(node)] = None
        self.counts["embedding"] += 1

    def mask(self, node, mask_value: float) -> None:
        from onnx import TensorProto, numpy_helper

        if not node.attribute or node.attribute[0].t.data_type != TensorProto.FLOAT:
            return
        value = numpy_helper.to_array(node.attribute[0].t)
        if value.size == 1 and float(value.reshape(-1)[0]) < _HUGE_NEGATIVE:
            node.attribute[0].t.CopyFrom(
                numpy_helper.from_array(np.full(value.shape, mask_value, np.float32), node.attribute[0].t.name))
            self.counts["mask"] += 1

    def finish(self) -> None:
        nodes = []
        for node in self.graph.node:
            replacement = self.replaced.get(_key(node), node)
            if replacement is not None:
                nodes.append(replacement)
        del self.graph.node[:]
        self.graph.node.extend(_live(nodes, [output.name for output in self.graph.output]))
        used = {name for node in self.graph.node for name in node.input}
        kept = [item for item in self.graph.initializer if item.name in used]
        del self.graph.initializer[:]
        self.graph.initializer.extend(kept)


def _key(node) -> str:
    return node.name or node.output[0]


def _only(nodes: list, op_type: str, source: Path, after) -> object:
    if len(nodes) != 1 or nodes[0].op_type != op_type:
        found = ", ".join(node.op_type for node in nodes) or "nothing"
        raise DequantizeError(f"{source}: {after.name or after.output[0]} should feed one {op_type}, feeds {found}")
    return nodes[0]


def _live(nodes: list, outputs: list[str]) -> list:
    """The nodes the graph's outputs depend on, in their original order."""
    producer = {output: node for node in nodes for output in node.output}
    needed, stack = set(), list(outputs)
    while stack:
        node = producer.get(stack.pop())
        if node is None or id(node) in needed:
            continue
        needed.add(id(node))
        stack.extend(node.input)
    return [node for node in nodes if id(node) in needed]
