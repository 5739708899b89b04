"""Which board is this, which profile fits it, and which onnxruntime providers to use.

Everything reads from a `root` path (normally "/") so tests can point it at a folder of fake
/proc files. An unknown board gets the generic profile. A profile asking for a provider that
onnxruntime does not have falls back to the next one, with one warning per profile and
missing set for the life of the process.
"""

from __future__ import annotations

import functools
import logging
import platform
from dataclasses import dataclass
from pathlib import Path

from devices.profile import GENERIC_PROFILE, DeviceProfile, load_profiles

logger = logging.getLogger(__name__)

CPU_PROVIDER = "CPUExecutionProvider"
# Providers onnxruntime lists that do not run a model on this machine.
REMOTE_PROVIDERS = frozenset({"AzureExecutionProvider"})


@dataclass(frozen=True)
class BoardFacts:
    """What the machine says about itself."""

    device_tree_model: str  # /proc/device-tree/model, "" when there is none (x86)
    compatible: tuple[str, ...]  # /proc/device-tree/compatible entries
    cpu_model: str  # /proc/cpuinfo "model name", "Model" or "Hardware"
    cpuinfo: str  # all of /proc/cpuinfo
    machine: str  # platform.machine()
    cores: int  # processors in /proc/cpuinfo
    root: Path


@dataclass(frozen=True)
class Detection:
    facts: BoardFacts
    profile: DeviceProfile
    reason: str  # why this profile


@dataclass(frozen=True)
class ProviderChoice:
    providers: tuple[str | tuple[str, dict[str, str]], ...]  # what InferenceSession(providers=...) takes
    names: tuple[str, ...]
    missing: tuple[str, ...]  # asked for by the profile, not installed
    reason: str


def read_facts(root: Path = Path("/"), machine: str | None = None) -> BoardFacts:
    model = _read_text(root / "proc/device-tree/model").strip("\x00\n ")
    compatible = tuple(item for item in _read_text(root / "proc/device-tree/compatible").split("\x00") if item)
    cpuinfo = _read_text(root / "proc/cpuinfo")
    cpu_model, cores = "", 0
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "processor":
            cores += 1
        elif key in ("model name", "Model", "Hardware") and not cpu_model:
            cpu_model = value.strip()
    return BoardFacts(model, compatible, cpu_model, cpuinfo, machine or platform.machine(), cores, root)


def _read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8", errors="replace")
    except OSError:
        return ""


def detect(
    root: Path = Path("/"), machine: str | None = None, profiles: dict[str, DeviceProfile] | None = None,
) -> Detection:
    """The best-matching profile: a board-specific match beats an architecture-only one."""
    facts = read_facts(root, machine)
    profiles = profiles if profiles is not None else load_profiles()
    best: tuple[int, str, str] | None = None
    for name, profile in sorted(profiles.items()):
        if name == GENERIC_PROFILE:
            continue
        scored = _score(profile, facts)
        if scored is not None and (best is None or scored[0] > best[0]):
            best = (scored[0], name, scored[1])
    if best is None:
        what = facts.device_tree_model or facts.cpu_model or "this machine"
        reason = f"no profile matches {what!r} ({facts.machine}); using the generic profile"
        return Detection(facts, profiles[GENERIC_PROFILE], reason)
    return Detection(facts, profiles[best[1]], best[2])


def _score(profile: DeviceProfile, facts: BoardFacts) -> tuple[int, str] | None:
    """(score, reason) when the profile fits, else None."""
    match = profile.match
    if not match.identifies and not match.machine:
        return None
    if match.machine and facts.machine not in match.machine:
        return None
    missing = [path for path in match.requires_paths if not (facts.root / path).exists()]
    if missing:
        return None
    reasons, score = [], 0
    if match.device_tree_model or match.compatible or match.cpuinfo:
        found = (
            _find(match.device_tree_model, facts.device_tree_model, "device-tree model")
            or _find(match.compatible, " ".join(facts.compatible), "device-tree compatible")
            or _find(match.cpuinfo, facts.cpuinfo, "/proc/cpuinfo")
        )
        if found is None:
            return None
        reasons.append(found)
        score += 10
    if match.requires_paths:
        reasons.append(f"{', '.join('/' + path for path in match.requires_paths)} present")
        score += 5
    if match.machine:
        reasons.append(f"machine is {facts.machine}")
        score += 1
    return score, "; ".join(reasons)


def _find(needles: tuple[str, ...], haystack: str, where: str) -> str | None:
    for needle in needles:
        if needle.lower() in haystack.lower():
            return f"{where} contains {needle!r}"
    return None


def available_providers() -> tuple[str, ...]:
    """onnxruntime's providers that run models here (not the remote Azure one)."""
    import onnxruntime

    return tuple(name for name in onnxruntime.get_available_providers() if name not in REMOTE_PROVIDERS)


def choose_providers(
    profile: DeviceProfile, available: tuple[str, ...] | None = None, override: tuple[str, ...] = (),
) -> ProviderChoice:
    """The profile's providers (or `override`'s names) that are installed, in order, CPU last."""
    available = available_providers() if available is None else available
    specs = {spec.name: spec for spec in profile.providers}
    wanted = override or profile.provider_names
    chosen, missing = [], []
    for name in wanted:
        (chosen if name in available else missing).append(name)
    if CPU_PROVIDER not in chosen:
        chosen.append(CPU_PROVIDER)  # onnxruntime's own fallback for nodes no accelerator takes
    if missing:
        _warn_missing_once(profile.name, tuple(missing), tuple(available))
        reason = f"{', '.join(missing)} not installed; falling back to {chosen[0]}"
    else:
        source = "--provider" if override else f"profile {profile.name}"
        reason = f"{chosen[0]} is the first choice of {source} and is installed"
    providers = tuple(specs[name].for_session() if name in specs else name for name in chosen)
    return ProviderChoice(providers, tuple(chosen), tuple(missing), reason)


@functools.lru_cache(maxsize=64)
def _warn_missing_once(profile: str, missing: tuple[str, ...], available: tuple[str, ...]) -> None:
    hints = {
        "OpenVINOExecutionProvider": "pip install onnxruntime-openvino (in place of onnxruntime)",
        "QNNExecutionProvider": "pip install onnxruntime-qnn (on the board, in place of onnxruntime)",
        "TensorrtExecutionProvider": "install NVIDIA's onnxruntime-gpu wheel for JetPack",
        "CUDAExecutionProvider": "install NVIDIA's onnxruntime-gpu wheel for JetPack",
    }
    fixes = "; ".join(f"{name}: {hints.get(name, 'install an onnxruntime build that has it')}" for name in missing)
    logger.warning(
        "device profile %s asks for %s, which this onnxruntime does not have (it has %s); using the next "
        "provider instead. To fix: %s",
        profile, ", ".join(missing), ", ".join(available) or "none", fixes,
    )


def resolve(
    profile_name: str = "", providers: str = "", root: Path = Path("/"),
    profiles: dict[str, DeviceProfile] | None = None,
) -> tuple[Detection, ProviderChoice]:
    """The settings' profile (or the detected one) and its provider choice (`device.*` settings)."""
    profiles = profiles if profiles is not None else load_profiles()
    detection = detect(root, profiles=profiles)
    if profile_name:
        if profile_name not in profiles:
            raise UnknownProfileError(
                f"device.profile is {profile_name!r}, which is not a profile; known: {', '.join(sorted(profiles))}"
            )
        detection = Detection(detection.facts, profiles[profile_name], "set by device.profile")
    override = tuple(name.strip() for name in providers.split(",") if name.strip())
    return detection, choose_providers(detection.profile, override=override)


class UnknownProfileError(ValueError):
    """A profile name that no file in devices/profiles/ has."""
