"""bench.adversarial_corrections builds its correction sets from real HWU64 requests: 10% adversarial,
one wrong target intent, the attackers and their time spread as each scenario says."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bench.adversarial_corrections import ADVERSARIAL_SHARE, SCENARIOS, build_set
from distill.data.records import default_data_dir

HWU64 = default_data_dir() / "hwu64" / "split_dialoglue" / "valid.tsv"


@pytest.fixture(scope="module")
def texts() -> list[tuple[str, str]]:
    if not HWU64.is_file():
        pytest.skip(f"{HWU64} not found; set EDGE_DATA_DIR to the shared data folder")
    rows = [line.split("\t") for line in HWU64.read_text().splitlines()[1:] if line.strip()]
    return [(text, label) for text, label in rows]


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_a_scenario_injects_ten_percent_to_one_wrong_intent(texts, scenario) -> None:
    pool = texts[:180]
    intents = sorted({label for _, label in texts})
    items, adversarial, target = build_set(texts, pool, intents, scenario, seed=1)
    attackers, mode, spread = SCENARIOS[scenario]
    bad = [item for item, flag in zip(items, adversarial, strict=True) if flag]
    assert len(items) == 200 and len(bad) == 20 == round(len(items) * ADVERSARIAL_SHARE)
    gold = dict(texts)
    assert all(item.label == target != gold[item.text] for item in bad)
    assert len({item.user for item in bad}) == min(attackers, len(bad))
    assert max(i.created for i in bad) - min(i.created for i in bad) <= spread
    if mode == "one-intent":
        assert len({gold[item.text] for item in bad}) == 1
    honest = [item for item, flag in zip(items, adversarial, strict=True) if not flag]
    assert sorted((i.text, i.label) for i in honest) == sorted(pool)
    assert not any(i.user.startswith("attacker") for i in honest)
    assert build_set(texts, pool, intents, scenario, seed=1)[2] == target  # the same set for the same seed
    assert spread in (timedelta(hours=6), timedelta(days=30))
