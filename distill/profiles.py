"""The device profile a bundle is built for: `devices/profiles/NAME.toml` when the `devices`
package ships it, else a generic preset. Only the fields `distill` needs are read here.

Read from the TOML (owned by `devices/`, see devices/profiles/README.md):

    name = "rpi5"
    [cpu]
    architecture = "aarch64"            # aarch64 | x86_64 | any
    [quantization]
    format = "QOperator"                # QOperator | QDQ
    optimum_preset = "arm64"            # arm64 | avx2 | avx512_vnni: Optimum AutoQuantizationConfig

Only dynamic INT8 through Optimum's presets is built so far; a profile asking for anything else
(static QDQ for an NPU or TensorRT, an empty preset) is refused with a message that says so.
"""

from __future__ import annotations

import logging
import tomllib
from dataclasses import dataclass
from pathlib import Path

from devices.profile import profiles_dir
from distill.export import QUANTIZATION_PRESETS

log = logging.getLogger(__name__)
PROFILES_DIR = profiles_dir()  # the one folder of board profiles, owned by devices/
_ARCH_PRESET = {"arm64": "arm64", "aarch64": "arm64", "x86_64": "avx2", "x86-64": "avx2", "amd64": "avx2"}


class ProfileError(ValueError):
    """A device profile is unknown or malformed."""


@dataclass(frozen=True)
class DeviceProfile:
    name: str = "generic"
    architecture: str = "arm64"
    quantization_preset: str = "arm64"  # an Optimum AutoQuantizationConfig preset
    quantization_format: str = "QOperator"
    source: str = "built-in generic preset"


def load_profile(name: str = "generic", profiles_dir: Path = PROFILES_DIR) -> DeviceProfile:
    """The named profile from `profiles_dir/NAME.toml`; "generic" (or a missing file for
    "generic") gives the built-in preset."""
    path = profiles_dir / f"{name}.toml"
    if not path.is_file():
        if name == "generic":
            return DeviceProfile()
        known = sorted(p.stem for p in profiles_dir.glob("*.toml")) if profiles_dir.is_dir() else []
        raise ProfileError(
            f"no device profile {name!r} in {profiles_dir}; known: {', '.join(known) or 'none'} (or 'generic')"
        )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ProfileError(f"{path}: not valid TOML ({error})") from error
    cpu = data.get("cpu") if isinstance(data.get("cpu"), dict) else {}
    architecture = str(cpu.get("architecture", data.get("architecture", "any")))
    quantization = data.get("quantization") if isinstance(data.get("quantization"), dict) else {}
    preset = str(
        quantization.get("optimum_preset", quantization.get("preset", _ARCH_PRESET.get(architecture, "arm64")))
    )
    quantization_format = str(quantization.get("format", "QOperator"))
    if preset not in QUANTIZATION_PRESETS:
        raise ProfileError(
            f"{path}: asks for {quantization_format} quantization with preset {preset!r}; distill builds only dynamic "
            f"INT8 with {', '.join(QUANTIZATION_PRESETS)} so far: use --device-profile generic (or x86-64, rpi5)"
        )
    return DeviceProfile(
        name=str(data.get("name", name)),
        architecture=architecture,
        quantization_preset=preset,
        quantization_format=quantization_format,
        source=str(path),
    )
