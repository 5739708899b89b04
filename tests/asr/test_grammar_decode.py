"""Grammar-constrained decoding (edge/asr/onnx/constrained.py) on real recordings with the real
Whisper graphs: coffee orders from Picovoice's benchmark (dev split) parse exactly, other speech
is rejected; shallow fusion completes the words it has started (edge/asr/onnx/bias.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from helpers.whisper_onnx_fixture import ensure_whisper_onnx

from edge.asr.onnx.bias import PhraseTrie
from edge.audio.wavio import read_request_audio
from edge.core.settings import AsrSettings

DATA = Path(os.environ.get("EDGE_DATA_DIR", Path(__file__).resolve().parents[3] / "shared" / "data"))
BENCH = DATA / "picovoice_speech_to_intent"
OTHER_SPEECH = (DATA / "rhino_intent_tests" / "test_out_of_context.wav", DATA / "asr_testclips" / "en" / "jfk.flac")
# "I like a single shot mocha" / "20-ounce single-shot medium-roast" / "ice coffee" as Whisper alone writes them
ORDERS = ("01a50d1b-ed05-4708-b076-5387ea170058.wav", "05b2d348-4ab5-4ccc-a17e-3ccb3907b272.wav",
          "08b22cb8-01d7-449a-923d-1597720742f0.wav")


@pytest.fixture(scope="module")
def coffee_asr():
    if not (BENCH / "dev_labels.json").is_file():
        pytest.skip(f"the speech-to-intent recordings are not in {DATA}; set EDGE_DATA_DIR")
    from distill.rhino_command import context_domain
    from edge.asr.onnx.engine import OnnxWhisperAsr

    ensure_whisper_onnx()
    return OnnxWhisperAsr(AsrSettings(), domain=context_domain(BENCH / "coffee_maker_context.yaml"))


@pytest.mark.parametrize("name", ORDERS)
def test_orders_are_read_inside_the_grammar_with_their_exact_parse(coffee_asr, name) -> None:
    label = json.loads((BENCH / "dev_labels.json").read_text())[name]
    transcript = coffee_asr.transcribe(read_request_audio(BENCH / "dev" / name).samples)
    assert transcript.grammar["accepted"] is True, transcript
    assert transcript.intent == label["intent"]
    assert transcript.slots == {slot: value.strip() for slot, value in label["slots"].items()}


@pytest.mark.parametrize("path", OTHER_SPEECH, ids=lambda p: p.name)
def test_other_speech_is_rejected_and_transcribed_freely(coffee_asr, path) -> None:
    if not path.is_file():
        pytest.skip(f"{path} not found")
    transcript = coffee_asr.transcribe(read_request_audio(path).samples)
    assert transcript.grammar["accepted"] is False and transcript.grammar["cost_per_token"] > 1.3
    assert transcript.intent == "" and transcript.slots == {}
    assert transcript.text and transcript.text != transcript.grammar["text"]


def test_the_phrase_trie_follows_words_in_progress() -> None:
    trie = PhraseTrie([[10, 11, 12], [10, 13], [20, 21]], bonus=1.5)
    state = trie.advance(trie.start(), 10)
    assert sorted(trie.continuations(state)) == [11, 13]
    state = trie.advance(state, 11)
    assert list(trie.continuations(state)) == [12]
    assert trie.advance(state, 99) == ()  # abandoned: the bonus stops
    assert trie.continuations(trie.start()).size == 0 and len(trie) == 2
    assert np.array_equal(trie.continuations(trie.advance((), 20)), [21])
