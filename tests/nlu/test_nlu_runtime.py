import json
import shutil

import pytest

from edge.core.settings import NluSettings
from edge.nlu.bundle import BundleError
from edge.nlu.runtime import IntentModel, decode_slots


def load(bundle_dir):
    return IntentModel.load(NluSettings(bundle_dir=str(bundle_dir)))


def test_tiny_bundle_gives_exact_intent_and_slots(tiny_bundle):
    model = load(tiny_bundle)
    result = model.predict("Set an alarm for 7:30 a.m.")
    assert result.text == "set an alarm for seven thirty am"
    assert result.intent == "alarm_set"
    assert result.slots == {"time": "seven thirty am"}
    assert not result.out_of_scope
    weather = model.predict("What's the weather in New York?")
    assert weather.intent == "weather_query"
    assert weather.slots == {"place_name": "new york"}


def test_low_confidence_counts_as_out_of_scope(tiny_bundle):
    result = load(tiny_bundle).predict("the")  # only a word that votes out_of_scope weakly
    assert result.intent == "out_of_scope" and result.out_of_scope


def test_empty_text_is_out_of_scope_not_an_error(tiny_bundle):
    result = load(tiny_bundle).predict("  ?! ")
    assert result.out_of_scope and result.text == ""


def test_newer_bundle_format_is_refused_with_upgrade_hint(tiny_bundle):
    manifest = json.loads((tiny_bundle / "bundle.json").read_text())
    manifest["format_version"] = 99
    (tiny_bundle / "bundle.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="newer than this runtime"):
        load(tiny_bundle)


def test_corrupt_model_file_is_refused_naming_the_file(tiny_bundle):
    (tiny_bundle / "model.onnx").write_bytes(b"not an onnx model")
    with pytest.raises(BundleError, match="model.onnx"):
        load(tiny_bundle)


def test_missing_files_are_listed(tiny_bundle, tmp_path):
    partial = tmp_path / "partial"
    shutil.copytree(tiny_bundle, partial)
    (partial / "labels.json").unlink()
    with pytest.raises(BundleError, match="lacks labels.json"):
        load(partial)


def test_labels_that_do_not_match_the_model_are_refused(tiny_bundle):
    (tiny_bundle / "labels.json").write_text(json.dumps({"intents": ["a", "b"], "slot_tags": ["O"]}))
    with pytest.raises(BundleError, match="3 intent scores"):
        load(tiny_bundle)


def test_decode_slots_merges_bio_runs_and_keeps_first_occurrence():
    text = "from new york to boston"
    tags = ["O", "O", "B-place_name", "I-place_name", "O", "B-place_name", "O"]
    offsets = [(0, 0), (0, 4), (5, 8), (9, 13), (14, 16), (17, 23), (0, 0)]
    special = [1, 0, 0, 0, 0, 0, 1]
    assert decode_slots(text, tags, offsets, special) == {"place_name": "new york"}


def test_decode_slots_starts_a_new_span_on_a_stray_inside_tag():
    text = "at seven"
    assert decode_slots(text, ["I-time", "I-time"], [(0, 2), (3, 8)], [0, 0]) == {"time": "at seven"}
    assert decode_slots(text, ["O", "I-time"], [(0, 2), (3, 8)], [0, 0]) == {"time": "seven"}


def test_decode_slots_widens_a_value_cut_inside_a_word():
    text = "brew some oolong tea"  # "oolong" as "o" + "##olo" + "##ng", only the first piece tagged
    tags = ["O", "O", "B-tea", "O", "O", "O"]
    offsets = [(0, 4), (5, 9), (10, 11), (11, 14), (14, 16), (17, 20)]
    assert decode_slots(text, tags, offsets, [0] * 6) == {"tea": "oolong"}
