"""`OnnxWhisperAsr`: Whisper tiny.en as two ONNX graphs, greedy decoding in numpy.

Unlike faster-whisper, which pads every request to 30 s, the encoder sees only the audio
spoken, plus padding to a floor (`asr.min_context_seconds`, 5 s: shorter contexts make the
decoder repeat itself) and at most `asr.max_tokens_per_second` tokens are decoded. Decoding is
biased toward the installed skills' vocabulary and the bundle's domain words (`asr.bias_logit`).

When the intent bundle carries a closed grammar (edge.core.domain, a Rhino context), the audio is
first decoded inside it (edge/asr/onnx/constrained.py); if the grammar cost no more than
`asr.grammar_max_cost` nats per token against the free decoder's own choices, the transcript is
the grammar's sentence with its parse (intent and declared slot values); otherwise the speech is
not for this bundle and the free decode of the same encoder output is returned.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from devices.sessions import SessionError, SessionFactory
from edge.asr.base import AsrError
from edge.asr.onnx.artifacts import read_manifest
from edge.asr.onnx.bias import PhraseTrie
from edge.asr.onnx.build import prepared_graphs
from edge.asr.onnx.constrained import ConstrainedDecoder, TokenGrammar
from edge.asr.onnx.features import FULL_CONTEXT_FRAMES, SAMPLE_RATE, LogMel
from edge.asr.onnx.greedy import GreedyDecoder
from edge.asr.onnx.tokens import WhisperTokenizerError, WhisperTokens
from edge.core.domain import Domain
from edge.core.events import Transcript
from edge.core.grammar import WordGraph
from edge.core.settings import AsrSettings
from edge.core.text.normalize import normalize_utterance

logger = logging.getLogger(__name__)

FRAMES_PER_SECOND = 100


class OnnxRunner:
    """`WhisperRunner` over the exported encoder and decoder sessions (one of each per process)."""

    def __init__(self, folder: Path, threads: int, sessions: SessionFactory | None = None) -> None:
        sessions = sessions or SessionFactory()
        try:
            self._encoder = sessions.create(folder / "encoder.onnx", threads, "Whisper encoder")
            # One token at a time: matrix-vector products too small to share between threads.
            self._decoder = sessions.create(folder / "decoder.onnx", 1, "Whisper decoder")
        except SessionError as error:
            raise AsrError(f"cannot load the Whisper ONNX graphs in {folder}: {error}; rebuild with `python -m edge.asr.onnx.build --force`") from error
        cache_shape = self._decoder.get_inputs()[1].shape  # [layers, 1, past, width]
        self._empty = np.zeros((cache_shape[0], 1, 0, cache_shape[3]), dtype=np.float32)
        self._cross_names = [output.name for output in self._encoder.get_outputs()]  # cross_k0.., cross_v0..

    def encode(self, mel: np.ndarray) -> tuple[dict[str, np.ndarray], dict]:
        """The per-layer cross-attention keys and values, as the decoder's named inputs."""
        outputs = self._encoder.run(None, {"mel": mel})
        return dict(zip(self._cross_names, outputs, strict=True)), {}

    def empty_cache(self) -> tuple[np.ndarray, np.ndarray]:
        return self._empty, self._empty

    def step(self, token, self_k, self_v, cross_k, cross_v):
        logits, keys, values = self._decoder.run(None, {
            "token": np.array([[token]], dtype=np.int64), "self_k": self_k, "self_v": self_v, **cross_k,
        })
        return logits[0], keys, values


class OnnxWhisperAsr:
    """The fast ASR engine (`asr.engine = "onnx-whisper"`). `transcribe` is thread-safe."""

    def __init__(self, settings: AsrSettings, vocabulary: Iterable[str] = (), sessions: SessionFactory | None = None,
                 domain: Domain | None = None) -> None:
        folder = prepared_graphs(settings)  # built from the CTranslate2 weights on first use
        manifest = read_manifest(folder)
        self._settings = settings
        self._runner = OnnxRunner(folder, settings.cpu_threads, sessions)
        try:
            self._tokens = WhisperTokens(folder / "tokenizer.json", folder / "config.json", manifest["dims"]["n_vocab"])
        except (WhisperTokenizerError, KeyError, TypeError) as error:
            raise AsrError(f"{folder}: {error}; rebuild with `python -m edge.asr.onnx.build --force`") from error
        words = [*vocabulary, *(w for w in settings.bias_words.split(",") if w.strip())]
        words += sorted(domain.words()) if domain is not None and settings.domain_bias else []
        bias = self._tokens.vocabulary_bias(words, settings.bias_logit)
        phrases = PhraseTrie(self._tokens.phrase_sequences(words), settings.phrase_bonus) if settings.phrase_bonus else None
        self._decoder = GreedyDecoder(self._tokens.options(max_new_tokens=224), bias, phrases)
        self._mel = LogMel()
        self._graph: WordGraph | None = None
        self._grammar: ConstrainedDecoder | None = None
        if domain is not None and domain.closed and settings.grammar_decode:
            self._graph = WordGraph.of(domain)
            grammar = TokenGrammar(self._graph, self._tokens.encode, self._tokens.eot)
            self._grammar = ConstrainedDecoder(grammar, self._decoder.suppress_mask, self._tokens.vocab_size,
                                               beam=settings.grammar_beam)
        self.folder = folder
        logger.info("loaded Whisper ONNX from %s (%s weights, %d bias words)", folder,
                    manifest.get("quantization", {}).get("weights", "?"), len(words) if bias is not None else 0)

    def context_frames(self, audio_seconds: float) -> int:
        """Encoder frames for a request: its length + padding, at least the floor, at most 30 s, even."""
        settings = self._settings
        seconds = max(settings.min_context_seconds, audio_seconds + settings.context_padding_seconds)
        frames = min(FULL_CONTEXT_FRAMES, math.ceil(seconds * FRAMES_PER_SECOND))
        return frames + frames % 2

    def token_cap(self, audio_seconds: float) -> int:
        return max(self._settings.min_tokens, math.ceil(audio_seconds * self._settings.max_tokens_per_second))

    def transcribe(self, samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> Transcript:
        """Transcribe float32 mono audio at 16 kHz (at most 30 s are heard)."""
        if sample_rate != SAMPLE_RATE:
            raise AsrError(f"Whisper needs {SAMPLE_RATE} Hz audio, got {sample_rate} Hz; resample first")
        samples = np.asarray(samples, dtype=np.float32)
        seconds = len(samples) / sample_rate
        mel = self._mel(samples, self.context_frames(seconds), self._settings.pad_with_silence)[None]
        cross_k, cross_v = self._runner.encode(mel)
        grammar = self._grammar_decode(cross_k, cross_v) if self._grammar is not None else None
        if grammar is not None and grammar["accepted"]:
            return Transcript(text=grammar["text"], language=self._settings.language, audio_seconds=seconds,
                              intent=grammar.pop("intent"), slots=grammar.pop("slots"), grammar=grammar)
        ids = self._decoder.decode_encoded(self._runner, cross_k, cross_v, self.token_cap(seconds))
        return Transcript(text=self._tokens.decode(ids), language=self._settings.language, audio_seconds=seconds,
                          grammar=grammar)

    def _grammar_decode(self, cross_k, cross_v) -> dict:
        """The closed grammar's reading of the audio: accepted (with intent and slots) or not."""
        options = self._decoder.options
        result = self._grammar.decode(self._runner, options.prompt, cross_k, cross_v, beam=1)
        if self._settings.grammar_beam > 1 and (result is None or result.cost_per_token > self._settings.grammar_retry_cost):
            # The greedy path through the grammar was costly: search it with more beams (the better score wins).
            wider = self._grammar.decode(self._runner, options.prompt, cross_k, cross_v, beam=self._settings.grammar_beam)
            if wider is not None and (result is None or wider.score > result.score):
                result = wider
        if result is None:
            return {"accepted": False, "text": "", "cost_per_token": None}
        text = self._tokens.decode(result.tokens)
        parse = self._graph.parse(normalize_utterance(text.replace("-", " ")).split())  # "8-ounce": two words
        cost = round(result.cost_per_token, 4)
        accepted = parse is not None and cost <= self._settings.grammar_max_cost
        found = {"accepted": accepted, "text": text, "cost_per_token": cost, "decoder_calls": result.decoder_calls}
        if accepted:
            found.update(intent=parse.intent, slots=dict(parse.slots))
        return found
