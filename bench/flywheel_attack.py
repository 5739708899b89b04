"""Adversarial corrections injected into a flywheel export: 10% of the rows, all to one wrong intent.

    rows, target = attacked_rows(honest_rows, requests, share=0.10, seed=13)

Three "users" (attacker-0..2) correct real held-back requests, spread over a month, all to one
seeded target intent that is not the request's own (`bench.adversarial_corrections`' three-users-
patient scenario, here as a share of the whole export: teacher-labelled turns and corrections).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from distill.data.records import Example

ATTACKERS = 3
MONTH = timedelta(days=30)
START = datetime(2026, 11, 1, tzinfo=UTC)


def attacked_rows(rows: list[dict], requests: list[Example], share: float = 0.10,
                  seed: int = 13) -> tuple[list[dict], str]:
    """`rows` plus adversarial corrections that make up `share` of the result; (rows, target intent)."""
    rng = random.Random(f"flywheel-attack-{seed}")
    target = rng.choice(sorted({e.intent for e in requests}))
    count = round(len(rows) * share / (1 - share))
    chosen = rng.sample([e for e in requests if e.intent != target], count)
    attack = [{"text": e.text, "intent": target, "kind": "correction", "source": "correction",
               "user": f"attacker-{i % ATTACKERS}", "created": (START + MONTH * rng.random()).isoformat()}
              for i, e in enumerate(chosen)]
    return rows + attack, target
