"""Device profiles: every shipped profile loads; a bad file is refused naming the file and field."""

from pathlib import Path

import pytest

from devices.profile import GENERIC_PROFILE, ProfileError, load_profile, load_profiles, profiles_dir

SHIPPED = {"generic", "rpi4", "rpi5", "rk3588", "jetson-orin-nano", "qualcomm-qcs6490", "intel-npu", "x86-64"}

VALID = """\
schema_version = 1
name = "board"
description = "a test board"
memory_budget_mib = 512

[cpu]
architecture = "aarch64"
cores = 4

[[providers]]
name = "QNNExecutionProvider"
options = { backend_path = "libQnnHtp.so" }

[[providers]]
name = "CPUExecutionProvider"

[quantization]
format = "QDQ"
weights_dtype = "int8"
per_channel = true
activations = "static"
activations_dtype = "uint8"
calibration_samples = 100

[match]
device_tree_model = ["Test Board"]
"""


def write(tmp_path: Path, text: str, name: str = "board") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return path


def test_every_shipped_profile_loads_with_cpu_last_resort():
    profiles = load_profiles()
    assert set(profiles) == SHIPPED
    for profile in profiles.values():
        assert profile.source == profiles_dir() / f"{profile.name}.toml"
        assert profile.cpu.cores > 0 and profile.memory_budget_mib > 0
        assert profile.provider_names[-1] == "CPUExecutionProvider"
    assert not profiles[GENERIC_PROFILE].match.identifies


def test_npu_profiles_want_static_qdq_and_cpus_dynamic_int8():
    profiles = load_profiles()
    for name in ("rk3588", "qualcomm-qcs6490", "intel-npu", "jetson-orin-nano"):
        quantization = profiles[name].quantization
        assert (quantization.format, quantization.activations, quantization.per_channel) == ("QDQ", "static", True)
        assert quantization.calibration_samples > 0
    for name in ("rpi4", "rpi5", "x86-64", "generic"):
        quantization = profiles[name].quantization
        assert (quantization.format, quantization.activations, quantization.weights_dtype) == (
            "QOperator", "dynamic", "int8")
    assert profiles["rk3588"].quantization.target_format == "rknn"
    assert profiles["rk3588"].accelerator == "rknn-toolkit-lite2"


def test_valid_profile_reads_typed_fields(tmp_path):
    profile = load_profile(write(tmp_path, VALID))
    assert profile.provider_names == ("QNNExecutionProvider", "CPUExecutionProvider")
    assert profile.providers[0].for_session() == ("QNNExecutionProvider", {"backend_path": "libQnnHtp.so"})
    assert profile.providers[1].for_session() == "CPUExecutionProvider"
    assert profile.audio.sample_rate == 16000 and profile.operators.opset == 17
    assert profile.match.device_tree_model == ("Test Board",)


@pytest.mark.parametrize(
    ("old", "new", "field", "problem"),
    [
        ('description = "a test board"\n', "", "description", "is missing"),
        ("cores = 4", 'cores = "four"', "cpu.cores", "must be a int"),
        ("cores = 4", "cores = 0", "cpu.cores", "must be positive"),
        ('format = "QDQ"', 'format = "QDQQ"', "quantization.format", "use one of 'QOperator', 'QDQ'"),
        ("per_channel = true", 'per_channel = "yes"', "quantization.per_channel", "must be a bool"),
        ("calibration_samples = 100", "calibration_samples = 0", "quantization.calibration_samples",
         "must be positive when activations are static"),
        ('name = "board"', 'name = "other"', "name", "they must agree"),
        ("schema_version = 1", "schema_version = 2", "schema_version", "reads version 1"),
        ('backend_path = "libQnnHtp.so"', "backend_path = 3", "providers[0].options.backend_path",
         "must be a string"),
        ('name = "CPUExecutionProvider"', 'name = "QNNExecutionProvider"', "providers[1].name", "listed twice"),
        ('name = "CPUExecutionProvider"', 'name = "CPU"', "providers[1].name", "end in ExecutionProvider"),
        ("[cpu]\n", "[cpu]\nclock_mhz = 2400\n", "cpu.clock_mhz", "is not a known field"),
        ("[match]\n", "[match]\nmodel = []\n", "match.model", "is not a known field"),
        ("memory_budget_mib = 512", "memory_budget_mib = -1", "memory_budget_mib", "must be positive"),
    ],
)
def test_bad_field_is_refused_naming_file_and_field(tmp_path, old, new, field, problem):
    assert old in VALID
    path = write(tmp_path, VALID.replace(old, new, 1))
    with pytest.raises(ProfileError) as caught:
        load_profile(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: {field} ") and problem in message


def test_not_toml_and_missing_file_are_refused_naming_the_file(tmp_path):
    path = write(tmp_path, "name = [unclosed")
    with pytest.raises(ProfileError, match=f"{path} is not valid TOML"):
        load_profile(path)
    with pytest.raises(ProfileError, match="nope.toml does not exist"):
        load_profile(tmp_path / "nope.toml")


def test_a_profile_folder_needs_the_generic_profile(tmp_path):
    write(tmp_path, VALID)
    with pytest.raises(ProfileError, match="has no 'generic' profile"):
        load_profiles(tmp_path)
