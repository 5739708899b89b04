"""The bundle's out-of-scope score (`oos_score`, edge/nlu/oos.py): the top probability (format 1)
or the logit margin (format 2), the same decision on the device, in `distill` and in the router."""

import json

import numpy as np
import pytest
from helpers.tiny_bundle import build_tiny_bundle

from distill.metrics import choose_oos_threshold, decide_intents
from edge.core.events import IntentResult
from edge.core.settings import NluSettings, RouterSettings
from edge.escalation.router import Router
from edge.nlu.bundle import BundleError
from edge.nlu.oos import in_scope_scores, out_of_scope_mask
from edge.nlu.runtime import IntentModel

# In the tiny bundle every word votes 3.0 for one intent: "set alarm" for alarm_set, "weather in"
# for weather_query, "the" for out_of_scope. So this request is split evenly between two in-scope
# intents (top probability below 0.5) while both beat out_of_scope by 3.0.
SPLIT_REQUEST = "set alarm weather in the"


def load(folder):
    return IntentModel.load(NluSettings(bundle_dir=str(folder)))


def test_the_margin_is_the_best_in_scope_logit_minus_the_out_of_scope_one():
    logits = np.array([[4.0, 1.0, 2.0], [1.0, 1.0, 3.0], [2.0, 2.0, 0.0]])
    assert np.allclose(in_scope_scores(logits, 2.0, 2, "logit_margin"), [1.0, -1.0, 1.0])
    assert np.allclose(in_scope_scores(logits, 1.0, 2, "probability")[2], 0.4683, atol=1e-4)
    assert out_of_scope_mask(logits, 1.0, 2, "logit_margin", 1.5).tolist() == [False, True, False]
    assert out_of_scope_mask(logits, 1.0, 2, "probability", 0.5).tolist() == [False, True, True]
    with pytest.raises(ValueError, match="unknown oos_score 'energy'"):
        in_scope_scores(logits, 1.0, 2, "energy")


def test_a_margin_bundle_keeps_a_request_split_between_in_scope_intents(tmp_path):
    by_probability = load(build_tiny_bundle(tmp_path / "p", oos_threshold=0.5))
    by_margin = load(build_tiny_bundle(tmp_path / "m", format_version=2, oos_threshold=1.0, oos_score="logit_margin"))
    split_p, split_m = by_probability.predict(SPLIT_REQUEST), by_margin.predict(SPLIT_REQUEST)
    assert split_p.confidence < 0.5 and split_p.out_of_scope
    assert split_m.intent == split_p.intent and split_m.confidence == split_p.confidence and not split_m.out_of_scope
    # a request that beats out_of_scope by less than the threshold is out of scope ("weather the": 3 vs 3)
    assert by_margin.predict("weather the").out_of_scope
    assert not by_margin.predict("weather in the").out_of_scope
    assert by_margin.predict("the").out_of_scope  # the top intent is out_of_scope


def test_a_margin_bundle_must_say_format_2_and_name_its_oos_intent(tmp_path):
    with pytest.raises(BundleError, match="needs bundle format 2"):
        load(build_tiny_bundle(tmp_path / "v1", format_version=1, oos_score="logit_margin"))
    with pytest.raises(BundleError, match="'oos_score' is 'energy'; this runtime knows probability, logit_margin"):
        load(build_tiny_bundle(tmp_path / "unknown", format_version=2, oos_score="energy"))
    folder = build_tiny_bundle(tmp_path / "renamed", format_version=2, oos_score="logit_margin")
    manifest = json.loads((folder / "bundle.json").read_text())
    (folder / "bundle.json").write_text(json.dumps({**manifest, "oos_label": "none_of_these"}))
    with pytest.raises(BundleError, match="needs the oos_label 'none_of_these' among the intents"):
        load(folder)


def test_distill_decides_and_chooses_the_threshold_like_the_device(tmp_path):
    model = load(build_tiny_bundle(tmp_path / "m", format_version=2, oos_threshold=1.0, oos_score="logit_margin"))
    texts = [SPLIT_REQUEST, "weather the", "weather in the", "set an alarm for seven", "the"]
    logits = np.stack([model._session.run(["intent_logits"], _feed(model, t))[0][0] for t in texts])
    decided = decide_intents(logits, 1.0, 2, 1.0, "logit_margin")
    on_device = [model.predict(t) for t in texts]
    assert [r.out_of_scope for r in on_device] == [bool(i == 2) for i in decided]
    # validation: the first, third and fourth are in scope, the others out of scope; any margin
    # threshold in (0, 3] separates them and the lowest candidate is kept
    labels = np.array([0, 2, 1, 0, 2])
    threshold, score = choose_oos_threshold(logits, 1.0, labels, 2, "balanced", "logit_margin")
    assert 0 < threshold <= 3.0 and score == 1.0


def test_with_no_router_threshold_a_margin_bundle_s_own_decision_escalates():
    router = Router(RouterSettings(min_confidence=-1), 1.0, "out_of_scope", "logit_margin")
    unsure = IntentResult(text="play jazz", intent="play_music", confidence=0.9, out_of_scope=True)
    sure = IntentResult(text="play jazz", intent="play_music", confidence=0.3, out_of_scope=False)
    decision = router.decide(unsure)
    assert decision.escalate and decision.rule == "low-confidence"
    assert decision.trace()["route_threshold"] == {"logit_margin": 1.0, "source": "bundle oos_threshold on its logit_margin"}
    assert router.decide(sure).rule == "confident"  # a low probability alone does not escalate
    # an explicit router.min_confidence is a probability and applies to any bundle
    strict = Router(RouterSettings(min_confidence=0.5), 1.0, "out_of_scope", "logit_margin")
    assert strict.decide(sure).rule == "low-confidence" and strict.decide(unsure).rule == "confident"


def _feed(model, text):
    from edge.core.text.normalize import normalize_utterance

    encoding = model._tokenizer.encode(normalize_utterance(text))
    return {
        "input_ids": np.asarray([encoding.ids], dtype=np.int64),
        "attention_mask": np.asarray([encoding.attention_mask], dtype=np.int64),
    }
