"""The runtime on a board: the profile's providers with one-warning fallback, the generic profile
for unknown boards, the NPU's model.rknn through rknn-toolkit-lite2, corrupt files refused."""

import builtins
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from devices import detect as detect_module
from devices.rknn_runtime import RknnModelError, RknnSession, RknnUnavailableError, check_rknn_file
from edge.core.settings import DeviceSettings, NluSettings
from edge.nlu.bundle import BundleError
from edge.nlu.runtime import IntentModel

ROCK5_MODEL = "Radxa ROCK 5B"


def fake_root(tmp_path: Path, model: str = "") -> Path:
    root = tmp_path / "root"
    (root / "proc" / "device-tree").mkdir(parents=True)
    if model:
        (root / "proc" / "device-tree" / "model").write_bytes(model.encode() + b"\x00")
    (root / "proc" / "cpuinfo").write_text("processor\t: 0\n")
    return root


def warnings_of(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING]


@pytest.fixture(autouse=True)
def fresh_warnings():
    detect_module._warn_missing_once.cache_clear()
    yield
    detect_module._warn_missing_once.cache_clear()


@pytest.fixture
def no_rknn_lite(monkeypatch):
    """rknnlite made unimportable, as on every machine that is not a Rockchip board."""
    real_import = builtins.__import__

    def refuse(name, *args, **kwargs):
        if name == "rknnlite" or name.startswith("rknnlite."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", refuse)


def test_unknown_board_runs_the_bundle_on_the_generic_profile(tiny_bundle, tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(detect_module.platform, "machine", lambda: "aarch64")  # an ARM board no profile knows
    caplog.set_level(logging.INFO)
    model = IntentModel.for_device(NluSettings(bundle_dir=str(tiny_bundle)), DeviceSettings(),
                                   root=fake_root(tmp_path, "Pine64 RockPro64"))
    assert model.session_providers == ["CPUExecutionProvider"]
    assert model.predict("set an alarm for seven").intent == "alarm_set"
    assert any("device profile generic (no profile matches 'Pine64 RockPro64'" in line
               for line in (record.getMessage() for record in caplog.records))
    assert not warnings_of(caplog)


def test_profile_provider_not_installed_falls_back_to_cpu_with_one_warning(tiny_bundle, tmp_path, caplog):
    pytest.importorskip("onnxruntime")
    import onnxruntime

    if "QNNExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this onnxruntime has the QNN provider, so nothing falls back")
    settings = NluSettings(bundle_dir=str(tiny_bundle))
    device = DeviceSettings(profile="qualcomm-qcs6490")
    models = [IntentModel.for_device(settings, device, root=fake_root(tmp_path / str(n))) for n in range(3)]
    assert all(model.session_providers == ["CPUExecutionProvider"] for model in models)
    assert models[0].predict("weather in new york").intent == "weather_query"
    warnings = warnings_of(caplog)
    assert len(warnings) == 1
    assert "qualcomm-qcs6490 asks for QNNExecutionProvider" in warnings[0]
    assert "pip install onnxruntime-qnn" in warnings[0]


def test_pipeline_loads_the_intent_model_on_the_profile_providers(tiny_bundle, tmp_path, caplog):
    from edge.core.settings import load_settings
    from edge.runtime.turn import Turn

    settings = load_settings(environ={}, overrides={
        "nlu.bundle_dir": str(tiny_bundle), "device.profile": "intel-npu",
        "skills.database_path": str(tmp_path / "edge.sqlite3"),
    })
    pipeline = Turn.load(settings, with_asr=False)
    try:
        import onnxruntime

        if "OpenVINOExecutionProvider" in onnxruntime.get_available_providers():
            assert pipeline.nlu.session_providers[0] == "OpenVINOExecutionProvider"
        else:
            assert pipeline.nlu.session_providers == ["CPUExecutionProvider"]
            assert [w for w in warnings_of(caplog) if "OpenVINOExecutionProvider" in w][0].startswith(
                "device profile intel-npu asks for OpenVINOExecutionProvider")
    finally:
        pipeline.close()


def test_corrupt_rknn_is_refused_naming_the_file(tiny_bundle, tmp_path):
    broken = tmp_path / "model.rknn"
    broken.write_bytes(b"\x08\x07not an rknn model" * 10)
    with pytest.raises(RknnModelError, match=f"{broken} is not an RKNN model"):
        check_rknn_file(broken)
    with pytest.raises(RknnModelError, match=f"{tmp_path / 'missing.rknn'} cannot be read"):
        check_rknn_file(tmp_path / "missing.rknn")
    bundle = tmp_path / "rk-bundle"
    shutil.copytree(tiny_bundle, bundle)
    shutil.copy(broken, bundle / "model.rknn")
    with pytest.raises(BundleError, match=f"{bundle / 'model.rknn'} is not an RKNN model"):
        IntentModel.for_device(NluSettings(bundle_dir=str(bundle)), DeviceSettings(),
                               root=fake_root(tmp_path, ROCK5_MODEL))


def test_missing_rknn_lite_says_how_to_install_it(tmp_path, no_rknn_lite):
    model = tmp_path / "model.rknn"
    model.write_bytes(b"RKNN" + bytes(60))
    with pytest.raises(RknnUnavailableError, match="pip install rknn-toolkit-lite2"):
        RknnSession.load(model, length=64, intents=3, slot_tags=5)


def test_rk3588_without_rknn_lite_runs_model_onnx_with_one_warning(tiny_bundle, tmp_path, caplog, no_rknn_lite):
    bundle = tmp_path / "rk-bundle"
    shutil.copytree(tiny_bundle, bundle)
    (bundle / "model.rknn").write_bytes(b"RKNN" + bytes(60))
    model = IntentModel.for_device(NluSettings(bundle_dir=str(bundle)), DeviceSettings(),
                                   root=fake_root(tmp_path, ROCK5_MODEL))
    assert model.session_providers == ["CPUExecutionProvider"]
    assert model.predict("set an alarm for seven thirty").slots == {"time": "seven thirty"}
    warnings = warnings_of(caplog)
    assert len(warnings) == 1 and "rknn-toolkit-lite2 is not installed" in warnings[0]


class FakeNpu:
    """Stands in for RKNNLite: runs the tiny ONNX model, and insists on the fixed input shape."""

    def __init__(self, onnx_path: Path, length: int):
        import onnxruntime

        self.session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
        self.length = length
        self.shapes: list[tuple] = []

    def inference(self, inputs, data_format="nchw"):
        self.shapes.append(tuple(array.shape for array in inputs))
        if any(array.shape != (1, self.length) for array in inputs):
            raise ValueError("RKNN models have fixed input shapes")
        return self.session.run(["intent_logits", "slot_logits"], {"input_ids": inputs[0], "attention_mask": inputs[1]})

    def release(self):
        pass


def test_rknn_session_pads_to_the_model_length_and_cuts_slots_back(tiny_bundle):
    npu = FakeNpu(tiny_bundle / "model.onnx", length=12)
    session = RknnSession(tiny_bundle / "model.rknn", npu, length=12, intents=3, slot_tags=5)
    model = IntentModel.load(NluSettings(bundle_dir=str(tiny_bundle)), session=session)
    cpu = IntentModel.load(NluSettings(bundle_dir=str(tiny_bundle)))
    for text in ("set an alarm for seven thirty am", "what's the weather in new york"):
        assert model.predict(text) == cpu.predict(text)
    assert set(npu.shapes) == {((1, 12), (1, 12))}
    assert model.session_providers == ["RKNNLite-NPU"]
    too_long = np.ones((1, 13), dtype=np.int64)
    with pytest.raises(RknnModelError, match="takes at most 12 tokens, got 13"):
        session.run(["intent_logits"], {"input_ids": too_long, "attention_mask": too_long})


def test_edge_devices_says_why_the_npu_is_not_used(tmp_path, capsys, no_rknn_lite):
    import json

    from edge.cli.main import main

    assert main(["devices", "--json", "--root", str(fake_root(tmp_path, ROCK5_MODEL))]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["profile"] == "rk3588"
    assert shown["accelerator_status"].startswith("model.onnx on the CPU: missing ")
    assert "rknn-toolkit-lite2 (pip install rknn-toolkit-lite2)" in shown["accelerator_status"]
