"""The RK3588 conversion's pieces that run without rknn-toolkit2 (bench/devices/rknn_check.py)."""

import pytest

from bench.devices.rknn_check import FLOAT16_LAYERS, RknnError, convert_and_run, main, set_float16_layers

STEP1_CONFIG = """\
custom_quantize_layers: {}
quantize_parameters:
    /bert/embeddings/LayerNorm/LayerNormalization#1:
        qtype: asym
    /bert/encoder/layer.0/attention/self/MatMul_1_output_0_sdpa:
        qtype: asym
    /bert/encoder/layer.0/attention/self/MatMul_1_2sdpa_q_add:
        qtype: asym
    /bert/encoder/layer.0/attention/self/value/Add_output_0-rs:
        qtype: asym
    /bert/encoder/layer.0/attention/output/Add_output_0-rs:
        qtype: asym
    /bert/encoder/layer.1/attention/self/MatMul_1_output_0_sdpa:
        qtype: asym
    bert.embeddings.LayerNorm.bias:
        qtype: asym
"""


def test_attention_residual_and_layernorm_layers_are_set_to_float16(tmp_path):
    config = tmp_path / "model.quantization.cfg"
    config.write_text(STEP1_CONFIG)
    chosen = set_float16_layers(config, FLOAT16_LAYERS)
    assert chosen == ["/bert/embeddings/LayerNorm/LayerNormalization#1",
                      "/bert/encoder/layer.0/attention/output/Add_output_0-rs",
                      "/bert/encoder/layer.0/attention/self/MatMul_1_output_0_sdpa",
                      "/bert/encoder/layer.1/attention/self/MatMul_1_output_0_sdpa"]
    text = config.read_text()
    assert text.startswith("custom_quantize_layers:\n"
                           "    /bert/embeddings/LayerNorm/LayerNormalization#1: float16\n"
                           "    /bert/encoder/layer.0/attention/output/Add_output_0-rs: float16\n")
    assert "    /bert/encoder/layer.0/attention/self/value/Add_output_0-rs: float16" not in text  # a MatMul: INT8
    assert text.endswith(STEP1_CONFIG.split("\n", 1)[1])


def test_a_pattern_matching_nothing_or_an_unknown_config_is_refused(tmp_path):
    config = tmp_path / "model.quantization.cfg"
    config.write_text(STEP1_CONFIG)
    with pytest.raises(RknnError, match="no layer in .*model.quantization.cfg matches 'Softmax_nowhere'"):
        set_float16_layers(config, "Softmax_nowhere")
    config.write_text("quantize_parameters: {}\n")
    with pytest.raises(RknnError, match="does not start with custom_quantize_layers"):
        set_float16_layers(config, FLOAT16_LAYERS)


def test_without_the_toolkit_the_error_says_which_venv(tmp_path, capsys):
    pytest.importorskip("onnx")
    try:
        import rknn.api  # noqa: F401

        pytest.skip("rknn-toolkit2 is installed in this venv")
    except ImportError:
        pass
    with pytest.raises(RknnError, match=r"run with .venv-rknn/bin/python \(make rknn\)"):
        convert_and_run(None, tmp_path, None, tmp_path)
    assert main(["--bundle", str(tmp_path), "--out", str(tmp_path / "out.json")]) == 1
    assert "make rknn" in capsys.readouterr().err
