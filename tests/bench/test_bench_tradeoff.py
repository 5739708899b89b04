"""bench/distill_tradeoff.py's out-of-scope score comparison, on logits whose answer is known."""

import numpy as np

from bench.distill_tradeoff import oos_scores
from edge.nlu.oos import in_scope_scores

OOS = 2  # intents: a, b, out_of_scope


def logits_and_labels():
    # In scope but torn between a and b: a low top probability, yet far above out_of_scope.
    torn = [[5.0, 4.8, 0.0], [4.9, 5.0, 0.0]] * 20
    # Clearly in scope.
    sure = [[6.0, 0.0, 0.0], [0.0, 6.0, 0.0]] * 20
    # Out of scope: mildly drawn to a, and the out_of_scope logit close behind.
    drawn = [[2.0, 0.0, 1.5]] * 20
    logits = np.array(torn + sure + drawn)
    labels = np.array([0, 1] * 20 + [0, 1] * 20 + [OOS] * 20)
    return logits, labels


def test_the_logit_margin_keeps_torn_in_scope_requests_the_probability_rejects():
    logits, labels = logits_and_labels()
    probability = in_scope_scores(logits, 1.0, OOS, "probability")
    margin = in_scope_scores(logits, 1.0, OOS, "logit_margin")
    assert probability[:40].max() < probability[80:].min()  # torn in-scope items look less sure than out of scope
    assert margin[:40].min() > margin[80:].max()  # the margin orders them right

    result = oos_scores(logits, logits, labels, labels, OOS, "balanced")
    at_recall = "test_at_85%_test_oos_recall"
    assert result["logit_margin"][at_recall] == {"in_scope_accuracy": 1.0, "oos_recall": 1.0}
    assert result["probability"][at_recall]["oos_recall"] >= 0.85
    assert result["probability"][at_recall]["in_scope_accuracy"] <= 0.5  # the torn half goes with the out of scope
