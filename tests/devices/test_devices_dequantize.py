"""The float rewrite of a dynamic-INT8 model that NPU toolchains need (bench/devices/dequantize.py)."""

from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the rewrite needs the onnx package (pip install -e '.[distill]')")
onnxruntime = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from bench.devices.dequantize import MASK_VALUE, DequantizeError, dequantize_model  # noqa: E402

WIDTH, VOCABULARY = 16, 40


def float_model(path: Path) -> Path:
    """Embedding Gather -> Add -> two MatMuls, then + mask term (float32's lowest where the mask is 0) -> MatMul -> MatMul."""
    rng = np.random.default_rng(7)
    lowest = np.array(np.finfo(np.float32).min, dtype=np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Gather", ["embeddings", "input_ids"], ["looked_up"]),
            helper.make_node("Add", ["looked_up", "offset"], ["embedded"]),  # as BERT adds position embeddings
            helper.make_node("Cast", ["attention_mask"], ["mask_float"], to=TensorProto.FLOAT),
            helper.make_node("Constant", [], ["one"], value=numpy_helper.from_array(np.array(1.0, np.float32))),
            helper.make_node("Constant", [], ["lowest"], value=numpy_helper.from_array(lowest)),
            helper.make_node("Sub", ["one", "mask_float"], ["inverted"]),
            helper.make_node("Mul", ["inverted", "lowest"], ["mask_term"]),
            helper.make_node("Unsqueeze", ["mask_term", "axis"], ["mask_column"]),
            helper.make_node("MatMul", ["embedded", "w1"], ["hidden"]),
            helper.make_node("Relu", ["hidden"], ["activated"]),
            helper.make_node("MatMul", ["activated", "w2"], ["projected"]),
            helper.make_node("Add", ["projected", "mask_column"], ["logits"]),
        ],
        "float_model",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, [1, "tokens"]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, [1, "tokens"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, "tokens", WIDTH])],
        initializer=[
            numpy_helper.from_array(rng.normal(size=(VOCABULARY, WIDTH)).astype(np.float32), "embeddings"),
            numpy_helper.from_array(rng.normal(size=(WIDTH, WIDTH)).astype(np.float32), "w1"),
            numpy_helper.from_array(rng.normal(size=(WIDTH, WIDTH)).astype(np.float32), "w2"),
            numpy_helper.from_array(rng.normal(size=(WIDTH,)).astype(np.float32), "offset"),
            numpy_helper.from_array(np.array([2], dtype=np.int64), "axis"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def run(path: Path, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["logits"], {"input_ids": ids, "attention_mask": mask})[0]


def test_dynamic_int8_model_becomes_float_with_the_same_weights(tmp_path):
    from onnxruntime.quantization import QuantType, quantize_dynamic

    source = float_model(tmp_path / "float.onnx")
    quantized = tmp_path / "int8.onnx"
    quantize_dynamic(str(source), str(quantized), weight_type=QuantType.QInt8, per_channel=True,
                     op_types_to_quantize=["MatMul", "Gather"])
    ops = {node.op_type for node in onnx.load(str(quantized)).graph.node}
    assert {"DynamicQuantizeLinear", "MatMulInteger", "DequantizeLinear"} <= ops

    counts = dequantize_model(quantized, tmp_path / "dequantized.onnx")
    assert counts == {"matmul": 2, "embedding": 1, "mask": 1}
    rewritten = onnx.load(str(tmp_path / "dequantized.onnx"))
    assert not {"DynamicQuantizeLinear", "MatMulInteger", "DequantizeLinear", "Cast"} & {
        node.op_type for node in rewritten.graph.node if node.output[0] != "mask_float"}
    lowest = [numpy_helper.to_array(node.attribute[0].t) for node in rewritten.graph.node if node.output[0] == "lowest"]
    assert float(lowest[0]) == MASK_VALUE

    ids, mask = np.array([[3, 17, 29, 5]], dtype=np.int64), np.array([[1, 1, 1, 0]], dtype=np.int64)
    reference, int8 = run(source, ids, mask)[:, :3], run(quantized, ids, mask)[:, :3]
    dequantized = run(tmp_path / "dequantized.onnx", ids, mask)
    assert np.allclose(dequantized[:, :3], reference, atol=0.1 * np.abs(reference).max())
    assert np.abs(dequantized[:, :3] - int8).max() <= np.abs(reference - int8).max() * 1.5 + 1e-3
    assert np.all(np.abs(dequantized[:, 3] - MASK_VALUE) < 200)  # the masked token: about -10000, not -3.4e38


def test_a_float_model_is_refused_naming_it(tmp_path):
    source = float_model(tmp_path / "float.onnx")
    with pytest.raises(DequantizeError, match=f"{source} has no MatMulInteger"):
        dequantize_model(source, tmp_path / "out.onnx")
