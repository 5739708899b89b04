"""Per-domain LoRA adapters on a frozen teacher encoder, stacked as a product of experts.

Real models, no mocks: the bundled MiniLM stands in for the large teacher so training three
domains takes seconds. The fixture first trains two domains, then adds a third with `only=`,
the way a new skill domain arrives later."""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("peft", reason="domain adapters need peft (pip install -e '.[distill]')")

from distill.baseline import base_model_dir  # noqa: E402
from distill.data.records import OOS_LABEL  # noqa: E402
from distill.domain_adapters import (  # noqa: E402
    MANIFEST,
    DomainAdapterError,
    group_domains,
    train_domain_adapters,
)
from distill.domain_stack import stacked_teacher_outputs  # noqa: E402
from distill.hwu64 import Utterance  # noqa: E402
from distill.recipes import TeacherSettings  # noqa: E402

TEMPLATES = {
    "alarm_set": ["wake me up at {t}", "set an alarm for {t}", "please set my alarm to {t}", "alarm at {t} please"],
    "alarm_query": ["what alarms do i have {d}", "show my alarms for {d}", "which alarms are set {d}"],
    "weather_query": ["what is the weather {d}", "will it rain {d}", "how cold is it going to be {d}"],
    "music_play": ["play some {g}", "put on {g} music", "i want to hear {g}", "start playing {g} songs"],
    OOS_LABEL: ["how do i {o}", "tell me how to {o}", "what is the best way to {o}"],
}
FILLERS = {
    "t": ["six am", "seven thirty", "noon", "five pm", "nine am", "half past eight", "ten pm"],
    "d": ["today", "tomorrow", "this weekend", "on monday", "tonight", "on friday", "next week"],
    "g": ["jazz", "rock", "classical", "the beatles", "hip hop", "relaxing piano", "country"],
    "o": ["change a tyre", "open a bank account", "bake sourdough", "renew my passport", "learn chess", "fix a leak"],
}
INTENTS = ["alarm_query", "alarm_set", "music_play", "weather_query", OOS_LABEL]
SETTINGS = TeacherSettings(
    model=str(base_model_dir()),
    epochs=3,
    batch_size=8,
    learning_rate=1e-3,
    head_learning_rate=1e-2,
    max_length=24,
    seed=13,
    lora_rank=4,
)


def utterances(fillers: slice) -> list[Utterance]:
    """Every template with the fillers in `fillers` (disjoint slices: disjoint sentences)."""
    items = []
    for intent, templates in TEMPLATES.items():
        for template in templates:
            key = template.split("{")[1][0]
            items += [Utterance(template.format(**{key: value}), intent) for value in FILLERS[key][fillers]]
    return items


DATA = {"train": utterances(slice(0, 4)), "valid": utterances(slice(4, 5)), "test": utterances(slice(5, 7))}


def file_hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*")}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Alarm and weather first (no music in the data yet), then music added on its own."""
    out = tmp_path_factory.mktemp("domains")
    early = {split: [u for u in items if u.intent != "music_play"] for split, items in DATA.items()}
    early_intents = [i for i in INTENTS if i != "music_play"]
    first = train_domain_adapters(early, early_intents, ["O"], "auto", out, SETTINGS)
    before = {d: file_hashes(out / "adapters" / d) for d in ("alarm", "weather")}
    manifest = train_domain_adapters(DATA, INTENTS, ["O"], "auto", out, SETTINGS, only=["music"])
    return out, first, manifest, before


def test_group_domains_auto_takes_the_prefix_and_leaves_out_of_scope_alone():
    assert group_domains(INTENTS, "auto") == {
        "alarm": ["alarm_query", "alarm_set"],
        "music": ["music_play"],
        "weather": ["weather_query"],
    }


def test_group_domains_explicit_is_taken_as_given():
    spec = {"wake": ["alarm_set", "alarm_query"], "media": ["music_play", "weather_query"]}
    assert group_domains(INTENTS, spec) == spec


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"a": ["alarm_set", "alarm_query", "music_play", "weather_query", "lights_on"]}, r"lights_on"),
        ({"a": ["alarm_set", "alarm_query", "music_play", "weather_query", OOS_LABEL]}, OOS_LABEL),
        ({"a": ["alarm_set", "alarm_query", "music_play"], "b": ["weather_query", "alarm_set"]}, r"more than one"),
        ({"a": ["alarm_set", "alarm_query", "music_play"]}, r"in no domain: \['weather_query'\]"),
        ({"a/b": ["alarm_set", "alarm_query", "music_play", "weather_query"]}, r"name folders"),
        ("by-prefix", r"'auto' or a mapping"),
    ],
)
def test_group_domains_rejects_bad_specs(spec, message):
    with pytest.raises(ValueError, match=message):
        group_domains(INTENTS, spec)


def test_training_writes_one_adapter_per_domain_and_a_manifest(trained):
    out, first, manifest, _ = trained
    assert sorted(first["domains"]) == ["alarm", "weather"]
    assert manifest["domains"] == {
        "alarm": ["alarm_query", "alarm_set"],
        "weather": ["weather_query"],
        "music": ["music_play"],
    }
    assert manifest["encoder_dir"] == str(base_model_dir()) and manifest["lora_rank"] == 4
    assert manifest["adapters"]["alarm"] == first["adapters"]["alarm"]  # carried over, not retrained
    for domain in manifest["domains"]:
        record = manifest["adapters"][domain]
        assert 0 < record["other_examples"] <= record["train_examples"] / 2
        assert {"adapter_config.json", "adapter_model.safetensors", "head.safetensors", "head.json"} <= {
            p.name for p in (out / "adapters" / domain).iterdir()
        }
    assert sorted(manifest["history"]) == ["alarm", "music", "weather"] and manifest["seconds"] > 0
    assert (out / MANIFEST).is_file()
    assert not list((out / "adapters").glob(".*"))  # no staging leftovers


def test_stacked_outputs_classify_held_out_sentences_with_the_teacher_contract(trained):
    out, *_ = trained
    test = DATA["test"]
    outputs = stacked_teacher_outputs(out, test, INTENTS, batch_size=16)
    assert outputs["logits"].dtype == np.float32 and outputs["logits"].shape == (len(test), len(INTENTS))
    assert outputs["pooled"].dtype == np.float16 and outputs["pooled"].shape == (len(test), 7, 384)  # MiniLM: 6 layers
    assert np.isfinite(outputs["logits"]).all()
    predicted = [INTENTS[i] for i in outputs["logits"].argmax(-1)]
    accuracy = np.mean([p == u.intent for p, u in zip(predicted, test, strict=True)])
    assert accuracy >= 0.8, list(zip(predicted, [u.text for u in test], strict=True))
    # the order of the outputs is the order of the utterances, whatever the length sorting did
    reversed_outputs = stacked_teacher_outputs(out, test[::-1], INTENTS, batch_size=16)
    np.testing.assert_allclose(reversed_outputs["logits"][::-1], outputs["logits"], rtol=1e-4, atol=1e-4)


def test_stacked_outputs_match_the_shapes_of_teacher_outputs(trained):
    import torch

    from distill.teacher import EncoderForIntentAndSlots, teacher_outputs, teacher_tokenizer
    from distill.train import encode

    out, *_ = trained
    items = DATA["test"][:3]
    torch.manual_seed(0)
    model = EncoderForIntentAndSlots(base_model_dir(), INTENTS, ["O"]).eval()
    plain = teacher_outputs(model, encode(items, teacher_tokenizer(base_model_dir(), 24), INTENTS, ["O"]))
    stacked = stacked_teacher_outputs(out, items, INTENTS)
    assert {k: (v.shape, v.dtype) for k, v in stacked.items()} == {k: (v.shape, v.dtype) for k, v in plain.items()}


def test_adding_a_domain_leaves_the_other_adapters_byte_identical(trained):
    out, _, manifest, before = trained
    assert {d: file_hashes(out / "adapters" / d) for d in before} == before
    # a rerun without `only` finds every domain trained and trains nothing
    again = train_domain_adapters(DATA, INTENTS, ["O"], "auto", out, SETTINGS)
    assert again["adapters"] == manifest["adapters"]
    assert {d: file_hashes(out / "adapters" / d) for d in before} == before


def test_retraining_one_domain_replaces_only_its_folder(trained, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(trained[0], out)
    kept = {d: file_hashes(out / "adapters" / d) for d in ("alarm", "music")}
    old_weather = file_hashes(out / "adapters" / "weather")
    settings = TeacherSettings(**{**SETTINGS.__dict__, "epochs": 1, "seed": 7})
    manifest = train_domain_adapters(DATA, INTENTS, ["O"], "auto", out, settings, only=["weather"])
    assert {d: file_hashes(out / "adapters" / d) for d in kept} == kept
    assert file_hashes(out / "adapters" / "weather") != old_weather
    assert manifest["adapters"]["weather"]["settings"]["seed"] == 7
    assert manifest["adapters"]["alarm"]["settings"]["seed"] == 13
    outputs = stacked_teacher_outputs(out, DATA["test"][:4], INTENTS)
    assert outputs["logits"].shape == (4, len(INTENTS))


def test_missing_or_corrupt_adapters_name_the_path(trained, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(trained[0], out)
    weights = out / "adapters" / "weather" / "adapter_model.safetensors"
    weights.write_bytes(b"not a safetensors file")
    with pytest.raises(
        DomainAdapterError, match=re.escape(str(out / "adapters" / "weather")) + r".*only=\['weather'\]"
    ):
        stacked_teacher_outputs(out, DATA["test"][:2], INTENTS)
    weights.unlink()
    with pytest.raises(
        DomainAdapterError, match=re.escape(str(out / "adapters" / "weather")) + r".*adapter_model.safetensors"
    ):
        stacked_teacher_outputs(out, DATA["test"][:2], INTENTS)
    shutil.rmtree(out / "adapters" / "alarm")
    with pytest.raises(DomainAdapterError, match=re.escape(str(out / "adapters" / "alarm"))):
        stacked_teacher_outputs(out, DATA["test"][:2], INTENTS)
    (out / MANIFEST).unlink()
    with pytest.raises(DomainAdapterError, match=re.escape(f"{out / MANIFEST} is missing")):
        stacked_teacher_outputs(out, DATA["test"][:2], INTENTS)


def test_labels_without_an_adapter_are_refused(trained):
    out, *_ = trained
    with pytest.raises(DomainAdapterError, match=r"no domain adapter covers \['lights_on'\]"):
        stacked_teacher_outputs(out, DATA["test"][:2], [*INTENTS[:-1], "lights_on", OOS_LABEL])


def test_only_names_must_be_domains(trained):
    out, *_ = trained
    with pytest.raises(ValueError, match=r"only=\['lights'\]: no such domain"):
        train_domain_adapters(DATA, INTENTS, ["O"], "auto", out, SETTINGS, only=["lights"])
