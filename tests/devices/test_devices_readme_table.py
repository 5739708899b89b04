"""The device table of docs/devices.md is generated from the result JSONs and matches them."""

import json
import shutil
from pathlib import Path

import pytest

from bench.devices.readme_table import END, REPOSITORY, START, TableError, main, render, replace_block

RESULTS = REPOSITORY / "bench" / "results"


def test_the_device_table_matches_the_result_files():
    readme = (REPOSITORY / "docs" / "devices.md").read_text(encoding="utf-8")
    block = readme[readme.index(START): readme.index(END) + len(END)]
    assert block == render(RESULTS), "docs/devices.md's table is stale: run python -m bench.devices.readme_table"
    for path in RESULTS.glob("agreement_cpu_vs_*.json"):
        data = json.loads(path.read_text())
        assert f"| {data['agreement']:.2%}" in block and f"`{path.name}`" in block
    for path in RESULTS.glob("devices_*.json"):
        assert f"`{path.name}`" in block


def test_table_is_rewritten_in_place_and_checked(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    for path in [*RESULTS.glob("devices_*.json"), *RESULTS.glob("agreement_cpu_vs_*.json")][:3]:
        shutil.copy(path, results)
    readme = tmp_path / "README.md"
    readme.write_text(f"# title\n\n## Devices\n\nprose\n\n{START}\nold table\n{END}\n\nafter\n")
    assert main(["--readme", str(readme), "--results", str(results), "--check"]) == 1
    assert main(["--readme", str(readme), "--results", str(results)]) == 0
    text = readme.read_text()
    assert "old table" not in text and text.startswith("# title\n") and text.endswith(f"{END}\n\nafter\n")
    assert main(["--readme", str(readme), "--results", str(results), "--check"]) == 0


def test_missing_markers_or_bad_result_name_the_file(tmp_path):
    with pytest.raises(TableError, match="README.md needs exactly one"):
        replace_block("no markers here", "table", Path("README.md"))
    (tmp_path / "agreement_cpu_vs_broken.json").write_text("{not json")
    with pytest.raises(TableError, match="agreement_cpu_vs_broken.json is not a readable JSON result"):
        render(tmp_path)
