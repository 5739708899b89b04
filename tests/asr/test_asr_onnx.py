"""The fast ASR path: CTranslate2 → openai-whisper layout → ONNX INT8, decoded in numpy."""

import logging
from pathlib import Path

import numpy as np
import pytest
from helpers.whisper_onnx_fixture import ensure_whisper_onnx
from whisper_normalizer.english import EnglishTextNormalizer

from edge.asr import AsrError, WhisperAsr, bundled_whisper_dir, create_asr
from edge.asr.onnx.artifacts import read_manifest
from edge.asr.onnx.features import LogMel
from edge.asr.onnx.greedy import DecodeOptions, GreedyDecoder, _repeated_tail
from edge.audio.wavio import read_request_audio
from edge.core.settings import AsrSettings
from edge.runtime.demo import demo_turns

normalise = EnglishTextNormalizer()
JFK = Path(__file__).resolve().parents[3] / "shared" / "data" / "asr_testclips" / "en" / "jfk.flac"


@pytest.fixture(scope="session")
def onnx_dir():
    """The graphs: built once into the cache by the runtime (no torch), reused afterwards."""
    return ensure_whisper_onnx()


@pytest.fixture(scope="session")
def onnx_asr(onnx_dir):
    from edge.asr.onnx.engine import OnnxWhisperAsr

    return OnnxWhisperAsr(AsrSettings(engine="onnx-whisper", onnx_dir=str(onnx_dir)), ["alarm", "timer"])


def test_converted_weights_have_openai_whisper_names_and_split_fused_attention():
    from edge.asr.onnx.ct2 import convert_ct2_to_openai

    dims, state = convert_ct2_to_openai(bundled_whisper_dir() / "model.bin")
    assert (dims.n_audio_layer, dims.n_text_layer, dims.n_audio_state, dims.n_vocab) == (4, 4, 384, 51864)
    assert "decoder.blocks.3.cross_attn.key.weight" in state and "encoder.blocks.0.attn.key.bias" not in state
    assert state["encoder.blocks.0.attn.query.weight"].shape == (384, 384)
    # 4 encoder blocks × 15 + 4 decoder blocks × 24 + 11 others: openai-whisper's state dict, key for key
    assert len(state) == 4 * 15 + 4 * 24 + 11


@pytest.mark.slow
def test_conversion_gives_the_same_transcripts_as_faster_whisper():
    torch = pytest.importorskip("torch", reason="running the converted model needs the distill extra (torch)")
    from distill.whisper_torch import TorchRunner, TorchWhisper, convert_ct2_to_openai
    from edge.asr.onnx.tokens import WhisperTokens

    torch.set_num_threads(1)
    model_dir = bundled_whisper_dir()
    dims, state = convert_ct2_to_openai(model_dir / "model.bin")
    tokens = WhisperTokens(model_dir / "tokenizer.json", model_dir / "config.json", dims.n_vocab)
    decoder = GreedyDecoder(tokens.options(224))
    reference = WhisperAsr(AsrSettings(compute_type="float32"))
    runner = TorchRunner(TorchWhisper(dims, state))
    for path in (demo_turns()[2].wav, JFK):
        samples = read_request_audio(path).samples
        converted = tokens.decode(decoder.decode(runner, LogMel()(samples, 3000)[None]))
        assert converted == reference.transcribe(samples).text


def test_onnx_transcribes_the_demo_requests(onnx_asr):
    for turn in demo_turns()[:4]:
        transcript = onnx_asr.transcribe(read_request_audio(turn.wav).samples)
        assert normalise(transcript.text) == normalise(turn.text)


def test_onnx_transcribes_a_real_human_recording(onnx_asr):
    text = onnx_asr.transcribe(read_request_audio(JFK).samples).text
    assert normalise(text) == normalise("And so my fellow Americans ask not what your country can do for you, "
                                        "ask what you can do for your country.")


def test_encoder_context_follows_the_audio_length(onnx_asr):
    assert onnx_asr.context_frames(1.7) == 1200  # the 12 s floor
    assert onnx_asr.context_frames(15.0) == 1550  # length + 0.5 s
    assert onnx_asr.context_frames(40.0) == 3000  # never past Whisper's 30 s
    assert onnx_asr.token_cap(1.0) == 12 and onnx_asr.token_cap(10.0) == 80


def test_the_exported_graphs_are_int8_and_the_manifest_names_their_source(onnx_dir):
    onnx = pytest.importorskip("onnx", reason="inspecting the graph needs the onnx package")
    manifest = read_manifest(onnx_dir)
    assert manifest["quantization"]["weights"] == "int8" and len(manifest["source_sha256"]) == 64
    graph = onnx.load(str(onnx_dir / "encoder.onnx")).graph
    ops = {node.op_type for node in graph.node}
    assert "MultiHeadAttention" in ops and ops & {"MatMulInteger", "DynamicQuantizeLinear", "DynamicQuantizeMatMul"}
    assert [i.name for i in graph.input] == ["mel"]
    assert [o.name for o in graph.output] == [f"cross_{kind}{i}" for kind in "kv" for i in range(4)]


def test_silence_gives_no_words(onnx_asr):
    assert onnx_asr.transcribe(np.zeros(16000, np.float32)).text in ("", ".")


def test_wrong_sample_rate_is_refused(onnx_asr):
    with pytest.raises(AsrError, match="16000 Hz"):
        onnx_asr.transcribe(np.zeros(8000, np.float32), sample_rate=8000)


def test_vocabulary_bias_raises_the_skill_words_tokens(onnx_asr):
    tokens = onnx_asr._tokens
    bias = tokens.vocabulary_bias(["alarm", "thermostat", "than"], 1.5)
    assert bias[tokens.encode(" alarm")[0]] == 1.5 and bias[tokens.encode(" Thermostat")[0]] == 1.5
    # everyday first tokens are left alone: " Al" (of " Alarm") and " than"
    assert bias[tokens.encode(" Alarm")[0]] == 0.0 and bias[tokens.encode(" than")[0]] == 0.0
    assert np.count_nonzero(bias) <= 6
    assert tokens.vocabulary_bias(["alarm"], 0.0) is None


def test_a_restarted_or_repeated_transcript_is_cut():
    assert _repeated_tail([1, 2, 3, 4, 1, 2, 3], 3) == 3  # says the start again
    assert _repeated_tail([9, 5, 6, 7, 5, 6, 7], 3) == 3  # repeats the last words
    assert _repeated_tail([1, 2, 3, 4, 5, 6], 3) == 0
    assert _repeated_tail([1, 1], 3) == 0


class _LoopingRunner:
    """A fake model that says tokens 10, 11, 12 forever (never end of text)."""

    def __init__(self):
        self.steps = 0

    def encode(self, mel):
        return np.zeros((1, 1, 1, 1), np.float32), np.zeros((1, 1, 1, 1), np.float32)

    def empty_cache(self):
        return np.zeros((1, 1, 0, 1), np.float32), np.zeros((1, 1, 0, 1), np.float32)

    def step(self, token, self_k, self_v, cross_k, cross_v):
        self.steps += 1
        logits = np.zeros(20, np.float32)
        logits[10 + self.steps % 3] = 5.0
        return logits, self_k, self_v


def test_decoding_stops_at_the_token_cap_and_on_repetition():
    options = DecodeOptions(prompt=(1,), eot=0, suppress=(2,), suppress_at_begin=(0,), max_new_tokens=50, vocab_size=20)
    tokens = GreedyDecoder(options).decode(_LoopingRunner(), np.zeros((1, 80, 10), np.float32))
    assert len(tokens) == 3  # the second round of 10, 11, 12 is cut
    capped = GreedyDecoder(options).decode(_LoopingRunner(), np.zeros((1, 80, 10), np.float32), max_new_tokens=2)
    assert len(capped) == 2


def test_missing_graphs_not_to_be_built_fall_back_to_faster_whisper_with_a_log_line(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="edge.asr"):
        asr = create_asr(AsrSettings(engine="onnx-whisper", onnx_dir=str(tmp_path / "nothing"), build_onnx=False))
    assert isinstance(asr, WhisperAsr)
    assert "using faster-whisper instead" in caplog.text and "python -m edge.asr.onnx.build" in caplog.text


def test_unknown_engine_and_missing_openai_whisper_say_how_to_fix():
    with pytest.raises(AsrError, match="choose one of"):
        create_asr(AsrSettings(engine="whisper.cpp"))
    with pytest.raises(AsrError, match="openai_checkpoint"):
        create_asr(AsrSettings(engine="openai-whisper"))


@pytest.mark.slow
def test_openai_whisper_reads_the_converted_checkpoint_and_agrees(tmp_path):
    pytest.importorskip("torch", reason="writing the checkpoint needs the distill extra (torch)")
    pytest.importorskip("whisper", reason="openai-whisper is not installed (pip install -e '.[openai-whisper]')")
    from distill.whisper_torch import convert_ct2_to_openai, save_openai_checkpoint

    checkpoint = tmp_path / "tiny.en.pt"
    save_openai_checkpoint(*convert_ct2_to_openai(bundled_whisper_dir() / "model.bin"), checkpoint)
    asr = create_asr(AsrSettings(engine="openai-whisper", openai_checkpoint=str(checkpoint)))
    samples = read_request_audio(demo_turns()[2].wav).samples
    assert asr.transcribe(samples).text == WhisperAsr(AsrSettings(compute_type="float32")).transcribe(samples).text


def test_graphs_in_an_older_format_are_refused_with_how_to_rebuild(onnx_dir, tmp_path):
    import json
    import shutil

    from edge.asr.onnx.engine import OnnxWhisperAsr

    stale = tmp_path / "stale"
    shutil.copytree(onnx_dir, stale)
    manifest = json.loads((stale / "whisper_onnx.json").read_text())
    (stale / "whisper_onnx.json").write_text(json.dumps({**manifest, "format_version": 3}))
    with pytest.raises(AsrError, match=r"format 3, this runtime reads format 4.*python -m edge.asr.onnx.build"):
        OnnxWhisperAsr(AsrSettings(onnx_dir=str(stale), build_onnx=False))
