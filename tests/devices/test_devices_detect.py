"""Board detection from fake /proc files, provider choice and fallback, the runtime's use of it."""

import json
import logging
import shutil
from pathlib import Path

import pytest

from devices import detect as detect_module
from devices.detect import UnknownProfileError, choose_providers, detect, resolve
from devices.profile import load_profiles
from edge.core.settings import NluSettings
from edge.nlu.bundle import BundleError
from edge.nlu.runtime import IntentModel

PI5_CPUINFO = "processor\t: 0\nBogoMIPS\t: 108.00\nprocessor\t: 1\nprocessor\t: 2\nprocessor\t: 3\n" \
    "Revision\t: d04170\nModel\t\t: Raspberry Pi 5 Model B Rev 1.0\n"


def fake_root(tmp_path: Path, model: str = "", compatible: tuple[str, ...] = (), cpuinfo: str = "",
              paths: tuple[str, ...] = ()) -> Path:
    root = tmp_path / "root"
    (root / "proc" / "device-tree").mkdir(parents=True)
    if model:
        (root / "proc" / "device-tree" / "model").write_bytes(model.encode() + b"\x00")
    if compatible:
        (root / "proc" / "device-tree" / "compatible").write_bytes(b"\x00".join(c.encode() for c in compatible) + b"\x00")
    (root / "proc" / "cpuinfo").write_text(cpuinfo)
    for path in paths:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).touch()
    return root


@pytest.fixture(autouse=True)
def fresh_warnings():
    detect_module._warn_missing_once.cache_clear()
    yield
    detect_module._warn_missing_once.cache_clear()


@pytest.mark.parametrize(
    ("model", "compatible", "machine", "expected"),
    [
        ("Raspberry Pi 5 Model B Rev 1.0", (), "aarch64", "rpi5"),
        ("Raspberry Pi 4 Model B Rev 1.4", (), "aarch64", "rpi4"),
        ("Radxa ROCK 5B", ("radxa,rock-5b", "rockchip,rk3588"), "aarch64", "rk3588"),
        ("Radxa ROCK 5B", (), "aarch64", "rk3588"),
        ("Some vendor board", ("vendor,board", "rockchip,rk3588"), "aarch64", "rk3588"),
        ("NVIDIA Jetson Orin Nano Developer Kit", (), "aarch64", "jetson-orin-nano"),
        ("Thundercomm RUBIK Pi 3", ("qcom,qcs6490",), "aarch64", "qualcomm-qcs6490"),
        ("", (), "x86_64", "x86-64"),
    ],
)
def test_board_is_detected_from_the_device_tree(tmp_path, model, compatible, machine, expected):
    detection = detect(fake_root(tmp_path, model, compatible), machine=machine)
    assert detection.profile.name == expected
    assert detection.facts.device_tree_model == model


def test_raspberry_pi_is_detected_from_cpuinfo_alone(tmp_path):
    detection = detect(fake_root(tmp_path, cpuinfo=PI5_CPUINFO), machine="aarch64")
    assert detection.profile.name == "rpi5"
    assert detection.reason == "/proc/cpuinfo contains 'Raspberry Pi 5'"
    assert detection.facts.cores == 4 and detection.facts.cpu_model == "Raspberry Pi 5 Model B Rev 1.0"


def test_intel_npu_needs_the_accel_device(tmp_path):
    with_npu = detect(fake_root(tmp_path, paths=("dev/accel/accel0",)), machine="x86_64")
    assert with_npu.profile.name == "intel-npu"
    assert "/dev/accel/accel0 present" in with_npu.reason


@pytest.mark.parametrize(("model", "machine"), [("Pine64 RockPro64", "aarch64"), ("", "riscv64"), ("", "armv7l")])
def test_unknown_board_gets_the_generic_profile(tmp_path, model, machine):
    detection = detect(fake_root(tmp_path, model), machine=machine)
    assert detection.profile.name == "generic"
    assert detection.reason.startswith("no profile matches") and detection.reason.endswith("using the generic profile")


def test_missing_provider_falls_back_with_one_warning(caplog):
    profile = load_profiles()["qualcomm-qcs6490"]
    caplog.set_level(logging.WARNING, logger="devices.detect")
    choices = [choose_providers(profile, available=("CPUExecutionProvider",)) for _ in range(3)]
    assert all(choice == choices[0] for choice in choices)
    assert choices[0].providers == ("CPUExecutionProvider",)
    assert choices[0].missing == ("QNNExecutionProvider",)
    warnings = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "qualcomm-qcs6490 asks for QNNExecutionProvider" in warnings[0].getMessage()
    assert "pip install onnxruntime-qnn" in warnings[0].getMessage()


def test_installed_providers_keep_their_options_and_order(caplog):
    profile = load_profiles()["jetson-orin-nano"]
    available = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
    choice = choose_providers(profile, available=available)
    assert choice.names == available and not choice.missing and not caplog.records
    name, options = choice.providers[0]
    assert name == "TensorrtExecutionProvider" and options["trt_int8_enable"] == "True"


def test_settings_override_profile_and_providers(tmp_path):
    root = fake_root(tmp_path)
    detection, choice = resolve("rk3588", "CPUExecutionProvider", root=root)
    assert detection.profile.name == "rk3588" and detection.reason == "set by device.profile"
    assert choice.names == ("CPUExecutionProvider",)
    with pytest.raises(UnknownProfileError, match="'rk9999', which is not a profile; known: generic"):
        resolve("rk9999", root=root)


def test_intent_model_runs_on_the_chosen_providers(tiny_bundle, caplog):
    choice = choose_providers(load_profiles()["intel-npu"], available=("CPUExecutionProvider",))
    model = IntentModel.load(NluSettings(bundle_dir=str(tiny_bundle)), providers=choice.providers)
    assert model.session_providers == ["CPUExecutionProvider"]
    assert model.predict("set an alarm for seven").intent == "alarm_set"


def test_corrupt_onnx_is_refused_naming_the_file(tiny_bundle, tmp_path):
    broken = tmp_path / "broken-bundle"
    shutil.copytree(tiny_bundle, broken)
    (broken / "model.onnx").write_bytes(b"\x08\x07garbage, not a protobuf graph" * 10)
    choice = choose_providers(load_profiles()["generic"], available=("CPUExecutionProvider",))
    with pytest.raises(BundleError, match=f"{broken / 'model.onnx'} is not a loadable ONNX model"):
        IntentModel.load(NluSettings(bundle_dir=str(broken)), providers=choice.providers)


def test_edge_devices_prints_board_profile_and_choice(tmp_path, capsys):
    from edge.cli.main import main

    root = fake_root(tmp_path, "Raspberry Pi 5 Model B Rev 1.0")
    assert main(["devices", "--json", "--root", str(root)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["board"]["device_tree_model"] == "Raspberry Pi 5 Model B Rev 1.0"
    assert shown["profile"] == "rpi5" and shown["chosen_providers"] == ["CPUExecutionProvider"]
    assert shown["profile_reason"] == "device-tree model contains 'Raspberry Pi 5'"
    assert main(["devices", "--root", str(root), "--set", "device.profile=nope"]) == 2
    assert "'nope', which is not a profile" in capsys.readouterr().err
