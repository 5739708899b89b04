"""The device profile a bundle is built for, read with the one profile loader
(`devices.profile.load_profile`, schema in devices/profiles/README.md): distill keeps only what
it needs to quantise.

    activations = "dynamic"  ->  dynamic INT8 with the profile's Optimum preset (arm64 | avx2 | avx512_vnni)
    activations = "static"   ->  static QDQ INT8, per-channel weights, activation ranges calibrated on
                                 the bundle's validation utterances (`distill.quantize`)

"generic", when no generic.toml is there, is the built-in dynamic arm64 preset.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from devices.profile import ProfileError as DevicesProfileError
from devices.profile import profiles_dir
from distill.export import QUANTIZATION_PRESETS

log = logging.getLogger(__name__)
PROFILES_DIR = profiles_dir()  # the one folder of board profiles, owned by devices/


class ProfileError(ValueError):
    """A device profile is unknown, malformed, or asks for a quantisation distill cannot make."""


@dataclass(frozen=True)
class DeviceProfile:
    name: str = "generic"
    architecture: str = "arm64"
    quantization_preset: str = "arm64"  # an Optimum AutoQuantizationConfig preset (dynamic activations)
    quantization_format: str = "QOperator"  # QOperator | QDQ
    activations: str = "dynamic"  # dynamic | static
    calibration_samples: int = 300  # static: validation utterances to calibrate on
    source: str = "built-in generic preset"

    @property
    def static(self) -> bool:
        return self.activations == "static"


def load_profile(name: str = "generic", folder: Path = PROFILES_DIR) -> DeviceProfile:
    """The named profile from `folder/NAME.toml`; "generic" without a file is the built-in preset."""
    from devices.profile import load_profile as load_device_profile

    path = folder / f"{name}.toml"
    if not path.is_file():
        if name == "generic":
            return DeviceProfile()
        known = sorted(p.stem for p in folder.glob("*.toml")) if folder.is_dir() else []
        raise ProfileError(
            f"no device profile {name!r} in {folder}; known: {', '.join(known) or 'none'} (or 'generic')"
        )
    try:
        device = load_device_profile(path)
    except DevicesProfileError as error:
        raise ProfileError(str(error)) from error
    quantization = device.quantization
    profile = DeviceProfile(
        name=device.name,
        architecture=device.cpu.architecture,
        quantization_preset=quantization.optimum_preset,
        quantization_format=quantization.format,
        activations=quantization.activations,
        calibration_samples=quantization.calibration_samples or 300,
        source=str(path),
    )
    if not profile.static and profile.quantization_preset not in QUANTIZATION_PRESETS:
        raise ProfileError(
            f"{path}: dynamic INT8 needs an Optimum preset ({', '.join(QUANTIZATION_PRESETS)}), "
            f'not {profile.quantization_preset!r}; set quantization.optimum_preset or activations = "static"'
        )
    return profile
