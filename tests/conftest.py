import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"
sys.path.insert(0, str(Path(__file__).resolve().parent))

# Child processes that get a fresh HOME (most CLI and conversation tests) keep the user cache of the
# machine, where the Whisper ONNX graphs are built once (tests/helpers/whisper_onnx_fixture.py):
# without this each `edge run` would rebuild them in its own HOME (~15 s of both cores each).
os.environ.setdefault("XDG_CACHE_HOME", str(Path.home() / ".cache"))


@pytest.fixture
def make_settings(tmp_path):
    """The one way tests build settings: defaults plus `overrides` ({"router.enabled": False}), never the
    environment or a settings file, with every data file (skills, ledger, flywheel, cast state) in tmp_path."""
    from edge.core.settings import load_settings

    def build(**overrides):
        isolated = {"skills.database_path": str(tmp_path / "edge.sqlite3"), "skills.entry_points": False,
                    "cast.state_dir": str(tmp_path / "cast"), "cast.enabled": False}
        dotted = {key.replace("__", "."): value for key, value in overrides.items()}
        return load_settings(environ={}, overrides={**isolated, **dotted})

    return build


@pytest.fixture
def tiny_bundle(tmp_path):
    pytest.importorskip("onnx", reason="building the tiny test bundle needs the onnx package (pip install -e '.[distill]')")
    from helpers.tiny_bundle import build_tiny_bundle

    return build_tiny_bundle(tmp_path / "tiny-bundle")


@pytest.fixture(scope="session")
def tea_site(tmp_path_factory) -> Path:
    """`pip install ./examples/skills/tea` into a folder to put on PYTHONPATH (the runtime is already
    here), once per test session; the skill-plugin and skill-rebuild tests share it."""
    target = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "--target", str(target), str(ROOT / "examples" / "skills" / "tea")],
        capture_output=True, text=True, timeout=300,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot build the example skill here: {result.stderr[-400:]}")
    assert list(target.glob("edge_skill_tea-0.1.0.dist-info/entry_points.txt"))
    return target
