"""The device runtime must never pull in torch or transformers (a speaker has neither)."""

import json
import pkgutil
import subprocess
import sys

import edge


def test_importing_every_edge_module_loads_no_training_framework():
    modules = [info.name for info in pkgutil.walk_packages(edge.__path__, "edge.") if not info.name.endswith("__main__")]
    code = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted(m for m in ('torch', 'transformers', 'optimum', 'distill') if m in sys.modules)))\n"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert len(modules) > 10
    assert json.loads(completed.stdout) == []
