"""The hassil-vs-bundle benchmark: its intent mapping, the real hassil matcher, a small real run."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # bench/ is not an installed package

pytest.importorskip("hassil", reason="the benchmark needs hassil (pip install -e '.[distill]')")
pytest.importorskip("home_assistant_intents", reason="the benchmark needs home-assistant-intents (pip install -e '.[distill]')")

from bench.hassil_vs_bundle import EXAMPLE_HOME, INTENT_MAP, NOT_MAPPED, HassilMatcher, compare  # noqa: E402

BUNDLE = ROOT / "edge" / "models" / "hwu64-minilm-int8"


@pytest.fixture(scope="module")
def matcher():
    return HassilMatcher(EXAMPLE_HOME)


def hwu64_intents() -> set[str]:
    """HWU64's own 64 intents: the shipped bundle's, less out-of-scope and the built-in skills'
    additions (audio_volume_set, hotel_book, ...), which HWU64's training split never names."""
    from distill.data.records import default_data_dir
    from distill.hwu64 import load_annotations, load_hwu64

    if not (default_data_dir() / "hwu64").is_dir():
        pytest.skip(f"HWU64 is not under {default_data_dir()} (set EDGE_DATA_DIR)")
    data_dir = default_data_dir()
    in_data = {u.intent for u in load_hwu64(data_dir, "train", load_annotations(data_dir))}
    labels = set(json.loads((BUNDLE / "labels.json").read_text())["intents"]) - {"out_of_scope"}
    assert in_data <= labels  # the shipped bundle knows every HWU64 intent
    return in_data


def test_mapping_names_only_intents_of_both(matcher):
    hwu64 = hwu64_intents()
    assert len(hwu64) == 64
    assert set(INTENT_MAP) <= hwu64
    assert set(NOT_MAPPED) <= hwu64
    assert not set(INTENT_MAP) & set(NOT_MAPPED)
    home_assistant = matcher.intent_names()
    assert {"HassTurnOn", "HassTurnOff", "HassLightSet", "HassGetWeather"} <= home_assistant
    for hwu_intent, ha_intents in INTENT_MAP.items():
        assert ha_intents, hwu_intent
        assert set(ha_intents) <= home_assistant, hwu_intent


@pytest.mark.parametrize(("text", "intent"), [
    ("turn on the kitchen lights", "HassTurnOn"),
    ("turn off the lights in the bathroom", "HassTurnOff"),
    ("what time is it", "HassGetCurrentTime"),
    ("add milk to my shopping list", "HassListAddItem"),  # the home has a to-do list named "shopping list"
    ("play jumper by third eye blind", "HassMediaSearchAndPlay"),  # needs the satellite's area as context
    ("tell me a joke", None),  # no match is a normal answer
])
def test_hassil_really_matches(matcher, text, intent):
    assert matcher.match(text) == intent


def test_compare_on_a_few_utterances_is_well_formed(matcher):
    from distill.bundle_eval import load_model
    from distill.data.records import Example

    examples = [Example("turn on the kitchen lights", "iot_hue_lighton"),
                Example("what is the weather like", "weather_query"),
                Example("dim the lights please", "iot_hue_lightdim"),
                Example("reduce volume", "audio_volume_down")]
    result = compare(examples, matcher, load_model(BUNDLE, threads=1), INTENT_MAP, repeats=2)
    assert result["utterances"] == 4 and result["intents_covered"] == 4 and result["timing_rounds"] == 2
    detail = result["utterances_detail"]
    assert [row["hassil"] for row in detail] == ["HassTurnOn", "HassGetWeather", None, None]
    assert [row["hassil_correct"] for row in detail] == [True, True, False, False]
    assert result["hassil"]["accuracy"] == 0.5 and result["hassil"]["coverage"] == 0.5
    assert result["hassil"]["precision_when_matched"] == 1.0
    for side in ("hassil", "bundle"):
        timings = result[side]["ms_per_query"]
        assert set(timings) == {"p50", "p95", "mean"} and all(value > 0 for value in timings.values())
    bundle_correct = sum(row["bundle_correct"] for row in detail)
    assert result["bundle"]["accuracy"] == bundle_correct / 4
    assert all(row["bundle_correct_ha"] >= row["bundle_correct"] for row in detail)
    assert sum(counts["n"] for counts in result["per_intent"].values()) == 4
    assert sum(result["hassil_matched_intents"].values()) == 4


def test_command_line_writes_a_result_with_provenance(tmp_path):
    from distill.data.records import default_data_dir

    if not (default_data_dir() / "hwu64").is_dir():
        pytest.skip(f"HWU64 is not under {default_data_dir()} (set EDGE_DATA_DIR)")
    committed = ROOT / "bench" / "results" / "hassil_vs_bundle.json"
    before = committed.read_bytes() if committed.exists() else None
    out = tmp_path / "small.json"
    subprocess.run([sys.executable, "-m", "bench.hassil_vs_bundle", "--limit", "10", "--repeats", "1",
                    "--out", str(out)], check=True, cwd=ROOT, capture_output=True)
    document = json.loads(out.read_text())
    assert document["utterances"] == 10
    assert {"command", "commit", "machine", "versions", "created"} <= set(document)
    assert document["versions"]["hassil"] != "not installed"
    assert document["home_given_to_hassil"]["intent_context"] == {"area": "living room"}
    assert document["mapping_hwu64_to_home_assistant"]["iot_hue_lighton"] == ["HassTurnOn"]
    assert (committed.read_bytes() if committed.exists() else None) == before  # --out leaves the committed one
