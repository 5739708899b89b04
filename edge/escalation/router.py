"""Local or escalate: the routing policy of one turn, as a pure function of what is known.

    router = Router(settings.router, bundle_threshold=manifest.oos_threshold, oos_label=manifest.oos_label)
    decision = router.decide(intent_result, dialogue_state)
    decision.escalate, decision.rule, decision.reason   # reason is the sentence the trace shows

The rules, first match wins:

1. `router.enabled = false`                        → local  (router-disabled)
2. the intent matches `router.local_intents`       → local  (local-policy)
3. the intent model says out of scope (its label)  → escalate (out-of-scope)
4. the intent needs world knowledge (`router.escalate_intents`, e.g. qa_factoid, news_query,
   recommendation_*)                               → escalate (world-knowledge)
5. the intent model is unsure                      → escalate (low-confidence): its logit margin
   (`IntentResult.oos_margin`: how far the best in-scope intent leads out_of_scope) is below
   `router.min_margin`. With `router.min_margin` negative, or a bundle with no out-of-scope
   intent: calibrated confidence < `router.min_confidence`; with that negative too, the bundle's
   own threshold (`oos_threshold`, overridable by nlu.oos_threshold; for a bundle whose
   `oos_score` is a logit margin, its `out_of_scope` flag)
6. the previous turn was escalated less than `router.follow_up_seconds` ago and the model is not
   at least `router.follow_up_min_confidence` sure of a device command → escalate (follow-up)
7. otherwise                                       → local  (confident)

Whether an escalated turn is answered by the cloud or offline is the escalator's business
(edge/escalation/escalator.py), not the router's.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any

from edge.core.events import IntentResult
from edge.core.settings import RouterSettings
from edge.escalation.history import DialogueState
from edge.nlu.oos import PROBABILITY


@dataclass(frozen=True)
class RouteDecision:
    escalate: bool
    rule: str  # router-disabled | local-policy | out-of-scope | world-knowledge | low-confidence | follow-up | confident
    reason: str  # one sentence for the trace and the privacy ledger
    threshold: float
    threshold_source: str
    threshold_unit: str = "confidence"  # or the bundle's oos_score, e.g. logit_margin

    def trace(self) -> dict[str, Any]:
        return {
            "route_rule": self.rule,
            "route_reason": self.reason,
            "route_threshold": {self.threshold_unit: round(self.threshold, 4), "source": self.threshold_source},
        }


def _patterns(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


@dataclass(frozen=True)
class _Uncertainty:
    """Rule 5 for one turn: which of the intent model's answers is compared with which threshold."""

    threshold: float
    source: str
    unit: str  # what the trace calls the threshold: logit_margin | confidence | the bundle's oos_score
    reads: str  # oos_margin (router.min_margin) | confidence | out_of_scope (a margin bundle's own decision)

    def below(self, intent: IntentResult) -> str | None:
        """Why the turn is too unsure to stay local, or None."""
        name = intent.intent
        if self.reads == "oos_margin":
            if intent.oos_margin is not None and intent.oos_margin < self.threshold:
                return (
                    f"{name} leads out_of_scope by a logit margin of {intent.oos_margin:.2f}, under "
                    f"router.min_margin {self.threshold:.2f}"
                )
            return None
        if self.reads == "out_of_scope":
            if intent.out_of_scope:
                return f"{name} is out of scope by the intent model's {self.source} {self.threshold:.2f}"
            return None
        if intent.confidence < self.threshold:
            return (
                f"{name} at calibrated confidence {intent.confidence:.2f} is below the threshold "
                f"{self.threshold:.2f} ({self.source})"
            )
        return None


class Router:
    def __init__(
        self, settings: RouterSettings, bundle_threshold: float, oos_label: str, bundle_score: str = PROBABILITY
    ) -> None:
        self.settings = settings
        self.oos_label = oos_label
        self._margin_rule = (
            _Uncertainty(settings.min_margin, "router.min_margin", "logit_margin", "oos_margin")
            if settings.min_margin >= 0
            else None
        )
        # for turns without a margin (a bundle with no out-of-scope intent), or with min_margin off
        if settings.min_confidence >= 0:
            self._confidence_rule = _Uncertainty(
                settings.min_confidence, "router.min_confidence", "confidence", "confidence"
            )
        elif bundle_score != PROBABILITY:  # the bundle decides on its own score: its out_of_scope flag
            self._confidence_rule = _Uncertainty(
                bundle_threshold, f"bundle oos_threshold on its {bundle_score}", bundle_score, "out_of_scope"
            )
        else:
            self._confidence_rule = _Uncertainty(bundle_threshold, "bundle oos_threshold", "confidence", "confidence")
        default = self._margin_rule or self._confidence_rule
        self.threshold, self.threshold_source, self.threshold_unit = default.threshold, default.source, default.unit
        self._escalate = _patterns(settings.escalate_intents)
        self._local = _patterns(settings.local_intents)
        self._open_starts = frozenset(_patterns(settings.open_request_starts))

    def needs_world_knowledge(self, intent: str) -> bool:
        return any(fnmatch.fnmatchcase(intent, pattern) for pattern in self._escalate)

    def uncertainty_rule(self, intent: IntentResult) -> _Uncertainty:
        if self._margin_rule is not None and intent.oos_margin is not None:
            return self._margin_rule
        return self._confidence_rule

    def decide(self, intent: IntentResult, state: DialogueState | None = None, now: float | None = None) -> RouteDecision:
        rule, reason = self._rule(intent, state, now)
        escalate = rule in {"out-of-scope", "open-request", "world-knowledge", "low-confidence", "follow-up"}
        uncertainty = self.uncertainty_rule(intent)
        return RouteDecision(
            escalate, rule, f"{rule}: {reason}", uncertainty.threshold, uncertainty.source, uncertainty.unit
        )

    def _rule(self, intent: IntentResult, state: DialogueState | None, now: float | None) -> tuple[str, str]:
        settings, name, confidence = self.settings, intent.intent, intent.confidence
        if not settings.enabled:
            return "router-disabled", "router.enabled is false; every turn stays on the device"
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in self._local):
            return "local-policy", f"{name} is listed in router.local_intents"
        first_word = intent.text.split(" ", 1)[0] if intent.text else ""
        if first_word in self._open_starts:
            return "open-request", f"a request starting with {first_word!r} is open-ended (router.open_request_starts)"
        if name == self.oos_label:
            return "out-of-scope", f"the intent model puts the request out of scope ({confidence:.2f})"
        if self.needs_world_knowledge(name):
            return "world-knowledge", f"{name} needs world knowledge the device does not have"
        uncertainty = self.uncertainty_rule(intent)
        unsure = uncertainty.below(intent)
        if unsure:
            return "low-confidence", unsure
        if state is not None:
            since = state.seconds_since_escalation(now)
            if since is not None and since <= settings.follow_up_seconds and confidence < settings.follow_up_min_confidence:
                return "follow-up", (
                    f"{since:.0f} s after an escalated turn, and {name} at {confidence:.2f} is below "
                    f"router.follow_up_min_confidence {settings.follow_up_min_confidence:.2f}"
                )
        margin = f", logit margin {intent.oos_margin:.2f}" if intent.oos_margin is not None else ""
        return "confident", (
            f"{name} at calibrated confidence {confidence:.2f}{margin} ({uncertainty.source} {uncertainty.threshold:.2f})"
        )
