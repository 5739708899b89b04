"""The import rules of ARCHITECTURE.md hold: no module cycles, no package cycles, the layer contract.

`make lint` runs import-linter on the contract in pyproject.toml; these tests check what it does
not (cycles between modules and between the runtime's packages) and that the contract is there.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from imports import import_graph, module_cycles, package_graph  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("edge", "firmware_bridge", "devices")
LAYERS = [
    "edge.cli",
    "firmware_bridge",
    "edge.runtime",
    "edge.dialogue | edge.escalation",
    "edge.skills | edge.cast | edge.listen | edge.asr | edge.nlu | edge.tts | edge.llm",
    "devices | edge.audio",
    "edge.core",
]


@pytest.fixture(scope="module")
def graph():
    return import_graph(ROOT, PACKAGES)


def test_no_module_imports_itself_through_others(graph):
    assert module_cycles(graph) == []


def test_no_cycle_between_the_runtime_packages(graph):
    """edge.asr, edge.runtime, firmware_bridge, devices…: the stage folders form a directed graph."""
    assert module_cycles(package_graph(graph, depth=2)) == []


def test_devices_never_import_edge(graph):
    assert not any(target.startswith(("edge.", "firmware_bridge")) for module, targets in graph.items()
                   if module.startswith("devices") for target in targets)


def test_the_layer_contract_is_the_architectures_with_no_exceptions():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (layers,) = [contract for contract in config["contracts"] if contract["type"] == "layers"]
    assert layers["layers"] == LAYERS
    assert layers.get("ignore_imports", []) == []  # the list of exceptions may only shrink; it is empty


def test_import_linter_keeps_every_contract():
    lint_imports = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    if not Path(lint_imports).exists():
        pytest.skip("import-linter is not installed (pip install -e '.[test]')")
    result = subprocess.run([lint_imports, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "0 broken" in result.stdout
