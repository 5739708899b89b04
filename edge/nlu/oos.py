"""How a bundle decides that a request is out of scope: the `oos_score` of `bundle.json`.

Either way, a request whose top intent is the bundle's `oos_label` is out of scope. Otherwise
the request's in-scope score is compared with `oos_threshold`, and below it the request is out
of scope too. The two scores, both from the calibrated logits (intent logits / temperature):

- `probability` (format 1): the top calibrated probability, the confidence the trace shows.
- `logit_margin` (format 2): the best in-scope logit minus the out-of-scope logit, which is the
  log-odds of the best in-scope intent against `oos_label`. Measured on CLINC150, it separates
  in-scope from out-of-scope requests better than the top probability, because it ignores how
  the probability is spread over the other in-scope intents (`bench/results/distill_clinc150*.json`,
  `oos_scores`). It needs `oos_label` among the bundle's intents.

numpy only: `distill` imports this to decide exactly as the device will.
"""

from __future__ import annotations

import numpy as np

PROBABILITY = "probability"
LOGIT_MARGIN = "logit_margin"
OOS_SCORES = {
    PROBABILITY: "the top calibrated probability",
    LOGIT_MARGIN: "the best in-scope calibrated logit minus the out-of-scope one",
}
FORMAT_OF_SCORE = {PROBABILITY: 1, LOGIT_MARGIN: 2}  # the oldest bundle format that can carry it


def in_scope_scores(logits: np.ndarray, temperature: float, oos_index: int | None, kind: str) -> np.ndarray:
    """One score per row of `logits` ([items, intents]); higher means more surely in scope."""
    scaled = np.asarray(logits, dtype=np.float64) / temperature
    if kind == PROBABILITY:
        shifted = scaled - scaled.max(axis=-1, keepdims=True)
        exp = np.exp(shifted)
        return (exp / exp.sum(axis=-1, keepdims=True)).max(axis=-1)
    if kind == LOGIT_MARGIN:
        if oos_index is None:
            raise ValueError("a logit-margin score needs the out-of-scope intent among the labels")
        others = np.delete(scaled, oos_index, axis=-1)
        return others.max(axis=-1) - scaled[..., oos_index]
    raise ValueError(f"unknown oos_score {kind!r}; choose one of: {', '.join(OOS_SCORES)}")


def out_of_scope_mask(
    logits: np.ndarray, temperature: float, oos_index: int | None, kind: str, threshold: float
) -> np.ndarray:
    """True where the bundle would call the request out of scope."""
    rejected = in_scope_scores(logits, temperature, oos_index, kind) < threshold
    if oos_index is None:
        return rejected
    return rejected | (np.asarray(logits).argmax(axis=-1) == oos_index)
