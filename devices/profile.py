"""Device profiles: what a board is, how to run a model on it, what model format it wants.

One TOML file per board in `devices/profiles/` (the schema is in `devices/profiles/README.md`).
`load_profile` and `load_profiles` read them into frozen dataclasses and refuse a bad file with
a `ProfileError` naming the file and the field.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROFILE_SCHEMA_VERSION = 1
GENERIC_PROFILE = "generic"
QUANTIZATION_FORMATS = ("QOperator", "QDQ", "none")
ACTIVATION_MODES = ("dynamic", "static", "none")
DTYPES = ("int8", "uint8", "int16", "fp16", "fp32")
OPTIMUM_PRESETS = ("arm64", "avx2", "avx512", "avx512_vnni", "tensorrt", "")
MATCH_KEYS = ("device_tree_model", "compatible", "cpuinfo", "machine", "requires_paths")


class ProfileError(Exception):
    """A device profile file is missing, not TOML, or has a missing or wrong field."""


def profiles_dir() -> Path:
    return Path(__file__).resolve().parent / "profiles"


@dataclass(frozen=True)
class CpuSpec:
    architecture: str  # platform.machine() spelling: aarch64, x86_64
    cores: int
    features: tuple[str, ...] = ()  # e.g. neon, dotprod, avx2, avx512_vnni


@dataclass(frozen=True)
class ProviderSpec:
    """One onnxruntime execution provider, with the options passed to the session."""

    name: str  # e.g. OpenVINOExecutionProvider
    options: dict[str, str] = field(default_factory=dict)

    def for_session(self) -> str | tuple[str, dict[str, str]]:
        return (self.name, dict(self.options)) if self.options else self.name


@dataclass(frozen=True)
class QuantizationSpec:
    """The INT8 model the board wants; `distill` reads this to export a bundle for it."""

    format: str  # QOperator (CPU integer ops) | QDQ (QuantizeLinear/DequantizeLinear pairs, NPUs) | none
    weights_dtype: str  # int8 | uint8 | fp16 | fp32
    per_channel: bool  # weights quantized per output channel
    activations: str  # dynamic (computed per run) | static (calibrated ranges) | none
    activations_dtype: str  # uint8 | int8 | int16 | fp16 | fp32
    optimum_preset: str  # AutoQuantizationConfig.<preset>(...); "" when Optimum does not make the model
    calibration_samples: int = 0  # static activations: utterances to calibrate on
    target_format: str = "onnx"  # what the device loads: onnx | rknn | qnn-context | engine


@dataclass(frozen=True)
class OperatorSpec:
    unsupported: tuple[str, ...] = ()  # ONNX op types the accelerator cannot run (they fall back or fail)
    static_shapes: bool = False  # the accelerator needs fixed input shapes: pad to max_sequence_length
    max_sequence_length: int = 64  # tokens, when static_shapes
    opset: int = 17  # highest ONNX opset the toolchain accepts


@dataclass(frozen=True)
class AudioSpec:
    sample_rate: int = 16000  # hertz, capture rate
    channels: int = 1
    input_device: str = ""  # sounddevice name; empty: the system default
    output_device: str = ""


@dataclass(frozen=True)
class MatchSpec:
    """How detection recognises the board. Strings match as case-insensitive substrings."""

    device_tree_model: tuple[str, ...] = ()  # /proc/device-tree/model
    compatible: tuple[str, ...] = ()  # /proc/device-tree/compatible
    cpuinfo: tuple[str, ...] = ()  # /proc/cpuinfo
    machine: tuple[str, ...] = ()  # platform.machine(); required when given
    requires_paths: tuple[str, ...] = ()  # all must exist (relative to the root), e.g. dev/accel/accel0

    @property
    def identifies(self) -> bool:
        return bool(self.device_tree_model or self.compatible or self.cpuinfo or self.requires_paths)


@dataclass(frozen=True)
class DeviceProfile:
    name: str
    description: str
    cpu: CpuSpec
    providers: tuple[ProviderSpec, ...]  # in order of preference
    quantization: QuantizationSpec
    operators: OperatorSpec
    memory_budget_mib: int  # what the whole assistant may use
    audio: AudioSpec
    match: MatchSpec
    accelerator: str = ""  # non-onnxruntime NPU runtime, e.g. rknn-toolkit-lite2; empty: none
    source: Path | None = None

    @property
    def provider_names(self) -> tuple[str, ...]:
        return tuple(provider.name for provider in self.providers)


def load_profiles(folder: Path | None = None) -> dict[str, DeviceProfile]:
    folder = folder or profiles_dir()
    paths = sorted(folder.glob("*.toml"))
    if not paths:
        raise ProfileError(f"no device profiles (*.toml) in {folder}")
    profiles = {}
    for path in paths:
        profile = load_profile(path)
        if profile.name in profiles:
            raise ProfileError(f"{path}: name {profile.name!r} is also used by {profiles[profile.name].source}")
        profiles[profile.name] = profile
    if GENERIC_PROFILE not in profiles:
        raise ProfileError(f"{folder} has no {GENERIC_PROFILE!r} profile, which unknown boards use")
    return profiles


def load_profile(path: Path) -> DeviceProfile:
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError as error:
        raise ProfileError(f"device profile {path} does not exist") from error
    except tomllib.TOMLDecodeError as error:
        raise ProfileError(f"device profile {path} is not valid TOML: {error}") from error
    return _Reader(path).profile(data)


class _Reader:
    """Typed field access that names the file and the field in every error."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, name: str, problem: str) -> ProfileError:
        return ProfileError(f"{self.path}: {name} {problem}")

    def get(self, table: dict[str, Any], name: str, kind: type | tuple[type, ...], prefix: str = "",
            default: Any = ...) -> Any:
        full = f"{prefix}{name}"
        if name not in table:
            if default is ...:
                raise self.fail(full, "is missing")
            return default
        value = table[name]
        if isinstance(value, bool) and kind is not bool or not isinstance(value, kind):
            wanted = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise self.fail(full, f"must be a {wanted}, got {value!r}")
        return value

    def strings(self, table: dict[str, Any], name: str, prefix: str = "") -> tuple[str, ...]:
        values = self.get(table, name, list, prefix, default=[])
        if not all(isinstance(value, str) for value in values):
            raise self.fail(f"{prefix}{name}", f"must be a list of strings, got {values!r}")
        return tuple(values)

    def choice(self, table: dict[str, Any], name: str, choices: tuple[str, ...], prefix: str,
               default: Any = ...) -> str:
        value = self.get(table, name, str, prefix, default)
        if value not in choices:
            raise self.fail(f"{prefix}{name}", f"is {value!r}; use one of {', '.join(map(repr, choices))}")
        return value

    def table(self, data: dict[str, Any], name: str, required: bool = True) -> dict[str, Any]:
        return self.get(data, name, dict, default=... if required else {})

    def known(self, table: dict[str, Any], allowed: tuple[str, ...], prefix: str) -> None:
        unknown = sorted(set(table) - set(allowed))
        if unknown:
            raise self.fail(f"{prefix}{unknown[0]}", f"is not a known field; known: {', '.join(allowed)}")

    def profile(self, data: dict[str, Any]) -> DeviceProfile:
        self.known(data, ("schema_version", "name", "description", "accelerator", "memory_budget_mib", "cpu",
                          "providers", "quantization", "operators", "audio", "match"), "")
        version = self.get(data, "schema_version", int)
        if version != PROFILE_SCHEMA_VERSION:
            raise self.fail("schema_version", f"is {version}; this runtime reads version {PROFILE_SCHEMA_VERSION}")
        name = self.get(data, "name", str)
        if name != self.path.stem:
            raise self.fail("name", f"is {name!r} but the file is {self.path.name}; they must agree")
        budget = self.get(data, "memory_budget_mib", int)
        if budget <= 0:
            raise self.fail("memory_budget_mib", f"must be positive, got {budget}")
        return DeviceProfile(
            name=name,
            description=self.get(data, "description", str),
            cpu=self.cpu(self.table(data, "cpu")),
            providers=self.providers(self.get(data, "providers", list)),
            quantization=self.quantization(self.table(data, "quantization")),
            operators=self.operators(self.table(data, "operators", required=False)),
            memory_budget_mib=budget,
            audio=self.audio(self.table(data, "audio", required=False)),
            match=self.match(self.table(data, "match", required=False)),
            accelerator=self.get(data, "accelerator", str, default=""),
            source=self.path,
        )

    def cpu(self, table: dict[str, Any]) -> CpuSpec:
        self.known(table, ("architecture", "cores", "features"), "cpu.")
        cores = self.get(table, "cores", int, "cpu.")
        if cores <= 0:
            raise self.fail("cpu.cores", f"must be positive, got {cores}")
        return CpuSpec(self.get(table, "architecture", str, "cpu."), cores, self.strings(table, "features", "cpu."))

    def providers(self, items: list[Any]) -> tuple[ProviderSpec, ...]:
        if not items:
            raise self.fail("providers", "is empty; list at least CPUExecutionProvider")
        specs = []
        for index, item in enumerate(items):
            prefix = f"providers[{index}]."
            if not isinstance(item, dict):
                raise self.fail(f"providers[{index}]", "must be a table with name and options")
            self.known(item, ("name", "options"), prefix)
            name = self.get(item, "name", str, prefix)
            if any(spec.name == name for spec in specs):
                raise self.fail(f"{prefix}name", f"{name} is listed twice; onnxruntime takes each provider once")
            if not name.endswith("ExecutionProvider"):
                raise self.fail(f"{prefix}name", f"is {name!r}; onnxruntime names end in ExecutionProvider")
            options = self.get(item, "options", dict, prefix, default={})
            for key, value in options.items():
                if not isinstance(value, str):
                    raise self.fail(f"{prefix}options.{key}", f"must be a string (onnxruntime takes strings), "
                                    f"e.g. \"{value}\"")
            specs.append(ProviderSpec(name, dict(options)))
        return tuple(specs)

    def quantization(self, table: dict[str, Any]) -> QuantizationSpec:
        p = "quantization."
        self.known(table, tuple(QuantizationSpec.__dataclass_fields__), p)
        samples = self.get(table, "calibration_samples", int, p, default=0)
        activations = self.choice(table, "activations", ACTIVATION_MODES, p)
        if activations == "static" and samples <= 0:
            raise self.fail(f"{p}calibration_samples", "must be positive when activations are static")
        return QuantizationSpec(
            format=self.choice(table, "format", QUANTIZATION_FORMATS, p),
            weights_dtype=self.choice(table, "weights_dtype", DTYPES, p),
            per_channel=self.get(table, "per_channel", bool, p),
            activations=activations,
            activations_dtype=self.choice(table, "activations_dtype", DTYPES, p),
            optimum_preset=self.choice(table, "optimum_preset", OPTIMUM_PRESETS, p, default=""),
            calibration_samples=samples,
            target_format=self.choice(table, "target_format", ("onnx", "rknn", "qnn-context", "engine"), p,
                                      default="onnx"),
        )

    def operators(self, table: dict[str, Any]) -> OperatorSpec:
        p = "operators."
        self.known(table, tuple(OperatorSpec.__dataclass_fields__), p)
        return OperatorSpec(
            unsupported=self.strings(table, "unsupported", p),
            static_shapes=self.get(table, "static_shapes", bool, p, default=False),
            max_sequence_length=self.get(table, "max_sequence_length", int, p, default=64),
            opset=self.get(table, "opset", int, p, default=17),
        )

    def audio(self, table: dict[str, Any]) -> AudioSpec:
        p = "audio."
        self.known(table, tuple(AudioSpec.__dataclass_fields__), p)
        return AudioSpec(
            sample_rate=self.get(table, "sample_rate", int, p, default=16000),
            channels=self.get(table, "channels", int, p, default=1),
            input_device=self.get(table, "input_device", str, p, default=""),
            output_device=self.get(table, "output_device", str, p, default=""),
        )

    def match(self, table: dict[str, Any]) -> MatchSpec:
        self.known(table, MATCH_KEYS, "match.")
        return MatchSpec(**{key: self.strings(table, key, "match.") for key in MATCH_KEYS})
