"""Choosing the out-of-scope threshold on validation (distill/metrics.py)."""

from __future__ import annotations

import pytest


def test_an_oos_recall_rule_keeps_the_most_in_scope_accuracy_at_the_recall_asked_for():
    import numpy as np

    from distill.metrics import check_threshold_rule, choose_threshold, describe_threshold_rule

    # two in-scope intents (0, 1) and out of scope (2); top probabilities spread so each threshold matters
    probabilities = np.array(
        [[0.9, 0.05, 0.05], [0.6, 0.3, 0.1], [0.4, 0.35, 0.25], [0.1, 0.8, 0.1],  # in scope, all argmax-right
         [0.7, 0.2, 0.1], [0.5, 0.3, 0.2], [0.45, 0.3, 0.25], [0.2, 0.2, 0.6]]  # out of scope
    )
    labels = np.array([0, 0, 0, 1, 2, 2, 2, 2])
    threshold, score = choose_threshold(probabilities, labels, 2, "oos_recall:0.75")
    rejected = probabilities.max(1) < threshold
    assert (rejected[4:] | (probabilities[4:].argmax(1) == 2)).mean() >= 0.75
    assert score == 1 - rejected[:4].mean()  # in-scope accuracy at that threshold
    assert choose_threshold(probabilities, labels, 2, "oos_recall:1.0")[0] > threshold
    assert check_threshold_rule("balanced") is None and check_threshold_rule("oos_recall:0.85") == 0.85
    assert "at least 85%" in describe_threshold_rule("oos_recall:0.85")
    for wrong in ("oos_recall:2", "recall:0.8", "oos_recall:x", "best"):
        with pytest.raises(ValueError, match="oos_recall:R"):
            check_threshold_rule(wrong)
