"""The fuzz targets, a few hundred inputs each: the CI version of `python -m bench.fuzz` (which runs
100 000 per target and records the run in bench/results/fuzz.json)."""

import logging

import pytest

pytest.importorskip("hypothesis")

from bench.fuzz import run_target  # noqa: E402
from bench.fuzz_targets import TARGETS  # noqa: E402

SHORT_COUNT = 300


@pytest.mark.parametrize("name", list(TARGETS))
def test_fuzz_target_short_run(name, caplog):
    if name == "card":
        pytest.importorskip("markdown_it", reason="rendering cards needs the cast extra: pip install -e '.[cast]'")
    if name == "audio":
        pytest.importorskip("soundfile")
    caplog.set_level(logging.ERROR)  # refusals log warnings by design; thousands of them are noise here
    summary = run_target(name, SHORT_COUNT, max_seconds=2.0)
    assert summary["inputs"] >= SHORT_COUNT * 0.9, summary
    assert summary["crashes"] == 0 and summary["hangs"] == 0
    assert sum(summary["refused_by_class"].values()) > 0, "no input was refused: the inputs are too tame"
