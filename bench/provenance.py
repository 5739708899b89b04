"""What every benchmark result records: the machine, the versions, the command, the commit."""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import subprocess
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    cpu_model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gib = None
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        memory_gib = round(pages / 2**30, 1)
    except (ValueError, OSError):
        pass
    return {
        "hostname": platform.node(),
        "system": platform.system(),
        "machine": platform.machine(),
        "cpu_model": cpu_model,
        "cpu_count": os.cpu_count(),
        "memory_gib": memory_gib,
        "python": sys.version.split()[0],
        "load_average_1m": round(os.getloadavg()[0], 2),  # other work on the machine skews timings
    }


def versions(packages: Iterable[str]) -> dict[str, str]:
    found = {}
    for name in packages:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True,
            cwd=Path(__file__).resolve().parent,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def command_line(argv: list[str] | None = None) -> str:
    """The command as someone in a clone would type it: `python -m bench.NAME ...`, paths inside the
    repository relative to it (a result file must not carry this machine's folders)."""
    argv = list(sys.argv if argv is None else argv)
    root = Path(__file__).resolve().parents[1]
    script = Path(argv[0]).resolve() if argv else None
    if script is not None and script.suffix == ".py" and script.is_relative_to(root):
        module = ".".join(script.relative_to(root).with_suffix("").parts).removesuffix(".__main__")
        argv[:1] = ["-m", module]
    words = []
    for word in argv:
        for prefix in (f"{root}{os.sep}", str(root)):
            word = word.replace(prefix, "")
        words.append(word)
    return " ".join(["python", *words])


def write_result(name: str, result: dict[str, Any], packages: Iterable[str], path: Path | None = None) -> Path:
    """Write `result` with its provenance to `path` (default bench/results/NAME.json); a `command`
    in `result` replaces the one read from sys.argv (e.g. to keep it free of this machine's paths)."""
    document = {
        "benchmark": name,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command_line(),
        "commit": git_commit(),
        "machine": machine(),
        "versions": versions(packages),
        **result,
    }
    path = path or RESULTS_DIR / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path
