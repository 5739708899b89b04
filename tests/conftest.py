import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"
sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture
def tiny_bundle(tmp_path):
    pytest.importorskip("onnx", reason="building the tiny test bundle needs the onnx package (pip install -e '.[distill]')")
    from tiny_bundle import build_tiny_bundle

    return build_tiny_bundle(tmp_path / "tiny-bundle")
