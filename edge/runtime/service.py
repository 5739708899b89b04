"""The speaker as a systemd service: the files `edge service install` writes and `uninstall` removes.

    plan = ServicePlan.for_settings(settings.service, root=Path("/"), executable=edge_executable())
    written = install(plan)          # the unit, /etc/edge/edge.toml, /var/lib/edge, the shipped bundle
    removed = uninstall(plan, purge=False)

`root` is a staging root for tests and image builds (`--root DIR`): every path is written under
it, while the unit names the paths of the installed system. The unit is `Type=notify`: the
runtime says READY=1 once it listens (edge/core/notify.py) and feeds `WatchdogSec` from its main
loop (edge/runtime/watchdog.py); logs go to the journal with a priority per line, one JSON
`edge.turns` line per turn.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from edge.core.errors import ConfigError, StorageError
from edge.core.settings import ServiceSettings

logger = logging.getLogger(__name__)

COMMANDS = {"run": ["run", "--listen"], "bridge": ["bridge", "serve"]}
METRICS_PORT = 9464  # the service's /metrics, on loopback (a port in Prometheus' exporter range)


class ServiceError(StorageError):
    """The service files could not be written or removed (permissions, a bad root)."""


@dataclass(frozen=True)
class ServicePlan:
    settings: ServiceSettings
    root: Path  # where the files go ("/" on the device, a staging folder in tests)
    executable: tuple[str, ...]  # how the unit starts edge: the `edge` script, or python -m edge

    @classmethod
    def for_settings(cls, settings: ServiceSettings, root: Path, executable: tuple[str, ...]) -> ServicePlan:
        if settings.command not in COMMANDS:
            raise ConfigError(f"service.command {settings.command!r}: choose one of {', '.join(COMMANDS)}")
        return cls(settings, root, executable)

    def on_disk(self, system_path: str | PurePosixPath) -> Path:
        """Where a path of the installed system lies under `root`."""
        return self.root / str(system_path).lstrip("/")

    @property
    def unit_path(self) -> PurePosixPath:
        return PurePosixPath("/etc/systemd/system") / f"{self.settings.unit_name}.service"

    @property
    def models_dir(self) -> PurePosixPath:
        return PurePosixPath(self.settings.state_dir) / "models"


def edge_executable() -> tuple[str, ...]:
    """The `edge` console script beside this Python (a venv's bin/), else `python -m edge`."""
    script = Path(sys.executable).parent / "edge"
    return (str(script),) if script.is_file() and os.access(script, os.X_OK) else (sys.executable, "-m", "edge")


def _managed_directory(path: str, base: str) -> str | None:
    """`StateDirectory=`-style name when `path` lies under systemd's `base`, else None."""
    relative = PurePosixPath(path).relative_to(base) if PurePosixPath(path).is_relative_to(base) else None
    return str(relative) if relative is not None and str(relative) != "." else None


def render_unit(plan: ServicePlan) -> str:
    settings = plan.settings
    command = [*plan.executable, *COMMANDS[settings.command], "--config", settings.config_path, "--log-format", "journal", "-v"]
    state = _managed_directory(settings.state_dir, "/var/lib")
    cache = _managed_directory(settings.cache_dir, "/var/cache")
    lines = [
        f"# Written by `edge service install` (edge-voice {_version()}); `edge service uninstall` removes it.",
        "[Unit]",
        "Description=edge voice assistant (wake word, speech recognition, intents, skills, voice)",
        "After=network-online.target sound.target",
        "Wants=network-online.target",
        "",
        "[Service]",
        "Type=notify",
        "NotifyAccess=main",
        "ExecStart=" + " ".join(_quote(part) for part in command),
        f"WatchdogSec={settings.watchdog_seconds}",
        f"TimeoutStartSec={settings.start_timeout_seconds}",
        "TimeoutStopSec=30",
        "KillSignal=SIGINT",
        "Restart=on-failure",
        "RestartSec=5",
        *([f"User={settings.user}"] if settings.user else ["DynamicUser=yes"]),
        "SupplementaryGroups=audio",
        *([f"StateDirectory={state}"] if state else [f"ReadWritePaths={settings.state_dir}"]),
        *([f"CacheDirectory={cache}"] if cache else [f"ReadWritePaths={settings.cache_dir}"]),
        f"Environment=XDG_CACHE_HOME={settings.cache_dir}",
        "Environment=PYTHONUNBUFFERED=1",
        f"SyslogIdentifier={settings.unit_name}",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
    ]
    return "\n".join(lines) + "\n"


def render_settings(plan: ServicePlan, bundle_name: str) -> str:
    settings = plan.settings
    state, cache = settings.state_dir, settings.cache_dir
    return f"""# Settings of the {settings.unit_name} service, written by `edge service install`; edit freely
# (a reinstall keeps this file). Every field: docs/settings.md.

[skills]
database_path = "{state}/edge.sqlite3"

[cast]
state_dir = "{state}/cast"

[asr]
onnx_dir = "{cache}/whisper-onnx/tiny.en-int8"   # built on the first start

[nlu]
bundle_dir = "{plan.models_dir}/current"   # `edge update` swaps this link ({bundle_name} at install)

[update]
models_dir = "{plan.models_dir}"
trusted_keys_dir = "/etc/edge/trusted-keys"

[metrics]
port = {METRICS_PORT}   # curl http://127.0.0.1:{METRICS_PORT}/metrics
host = "127.0.0.1"
"""


def install(plan: ServicePlan, shipped_bundle: Path) -> list[Path]:
    """Write the unit (always), the settings file (only when missing), the state and cache folders,
    the trusted-keys folder, and the shipped intent bundle as the first `current` model. The
    files written, in order."""
    written: list[Path] = []
    try:
        unit = plan.on_disk(plan.unit_path)
        unit.parent.mkdir(parents=True, exist_ok=True)
        unit.write_text(render_unit(plan))
        written.append(unit)
        config = plan.on_disk(plan.settings.config_path)
        if not config.exists():
            config.parent.mkdir(parents=True, exist_ok=True)
            config.write_text(render_settings(plan, shipped_bundle.name))
            written.append(config)
        for folder in ("/etc/edge/trusted-keys", plan.settings.state_dir, plan.settings.cache_dir):
            plan.on_disk(folder).mkdir(parents=True, exist_ok=True)
        written.extend(_seed_models(plan, shipped_bundle))
    except OSError as error:
        raise ServiceError(f"cannot install the service under {plan.root}: {error} (run it as root, or pass --root DIR)") from error
    return written


def _seed_models(plan: ServicePlan, shipped_bundle: Path) -> list[Path]:
    models = plan.on_disk(plan.models_dir)
    current = models / "current"
    if current.exists() or current.is_symlink():
        return []
    target = models / shipped_bundle.name
    if not target.exists():
        shutil.copytree(shipped_bundle, target)
    models.mkdir(parents=True, exist_ok=True)
    current.symlink_to(shipped_bundle.name)  # relative: the link holds under a staging root too
    return [target, current]


def uninstall(plan: ServicePlan, purge: bool = False) -> list[Path]:
    """Remove the unit and the settings file; with `purge`, also the state, the cache and the
    trusted keys. The paths removed."""
    removed: list[Path] = []
    paths = [plan.unit_path, PurePosixPath(plan.settings.config_path)]
    if purge:
        paths += [PurePosixPath("/etc/edge/trusted-keys"), PurePosixPath(plan.settings.state_dir),
                  PurePosixPath(plan.settings.cache_dir)]
    try:
        for system_path in paths:
            path = plan.on_disk(system_path)
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.exists() or path.is_symlink():
                path.unlink()
            else:
                continue
            removed.append(path)
        etc = plan.on_disk("/etc/edge")
        if etc.is_dir() and not any(etc.iterdir()):
            etc.rmdir()
    except OSError as error:
        raise ServiceError(f"cannot uninstall the service under {plan.root}: {error}") from error
    return removed


def _quote(part: str) -> str:
    """One ExecStart word: quoted (with `\\` and `"` escaped) when it holds a space or a quote."""
    if not any(c in part for c in ' "\\'):
        return part
    return '"' + part.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _version() -> str:
    try:
        return importlib.metadata.version("edge-voice")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
