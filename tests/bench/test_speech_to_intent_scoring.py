"""bench.speech_to_intent scores and mixes as Picovoice's benchmark does: SNR on the maximum
2048-sample frame energy, peak 0.5, strip() on values, extra slots not penalised."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # bench/ is not an installed package

from bench.speech_to_intent import correct, load_labels, max_frame_energy, mix, portable  # noqa: E402


def test_mixing_sets_the_snr_on_max_frame_energy_and_peak_half() -> None:
    speech = (np.sin(np.arange(16000) / 5) * 0.3).astype(np.float32)
    noise = np.random.default_rng(1).normal(0, 0.1, 48000).astype(np.float32)
    clean = mix(speech, noise, None, seed=3)  # clean: only normalised
    assert np.allclose(clean, speech * (0.5 / np.max(np.abs(speech))), atol=1e-6)
    mixed = mix(speech, noise, 6.0, seed=3)
    assert math.isclose(float(np.max(np.abs(mixed))), 0.5, rel_tol=1e-5)
    start = np.random.default_rng(3).integers(0, len(noise) - len(speech))
    stretch = noise[start : start + len(speech)].astype(np.float64)
    scale = math.sqrt(max_frame_energy(speech) / (max_frame_energy(stretch) * 10**0.6))
    expected = speech + scale * stretch
    assert np.allclose(mixed, expected * (0.5 / np.max(np.abs(expected))), atol=1e-5)
    assert math.isclose(10 * math.log10(max_frame_energy(speech) / max_frame_energy(scale * stretch)), 6.0, abs_tol=1e-6)


def test_labels_are_stripped_and_the_command_has_no_machine_paths(tmp_path) -> None:
    path = tmp_path / "labels.json"
    path.write_text(json.dumps({"a.wav": {"intent": "orderDrink", "slots": {"size": " large", "coffeeDrink": "latte "}}}))
    assert load_labels(path) == {"a.wav": ("orderDrink", {"size": "large", "coffeeDrink": "latte"})}
    assert portable(["--limit", "5"]) == "python -m bench.speech_to_intent --limit 5"
    assert portable([]) == "python -m bench.speech_to_intent"
    assert not portable(["--bundle", str(tmp_path)]).split()[-1].startswith("/")


def test_a_clip_counts_with_extra_slots_and_not_when_out_of_scope() -> None:
    slots = {"size": "large"}
    assert correct(SimpleNamespace(out_of_scope=False, intent="orderDrink", slots={"size": "large", "roast": "dark roast"}),
                   "orderDrink", slots)
    assert not correct(SimpleNamespace(out_of_scope=True, intent="orderDrink", slots={"size": "large"}), "orderDrink", slots)
    assert not correct(SimpleNamespace(out_of_scope=False, intent="orderDrink", slots={}), "orderDrink", slots)
