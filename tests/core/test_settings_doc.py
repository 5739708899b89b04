"""docs/settings.md is generated from edge/core/settings.py and is never stale; every field says what it is."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

GENERATOR = Path(__file__).resolve().parents[2] / "docs" / "generate_settings.py"


@pytest.fixture(scope="module")
def generator():
    spec = importlib.util.spec_from_file_location("generate_settings", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_settings_doc_is_current(generator):
    assert generator.main(["--check"]) == 0, "run python docs/generate_settings.py"


def test_every_setting_is_explained(generator):
    rows = [line for line in generator.render().splitlines() if line.startswith("| `")]
    assert len(rows) > 150
    assert [row for row in rows if row.endswith("|  |")] == []  # a comment beside each field in settings.py
