"""Whisper's tokenizer, special tokens and suppression lists, and the skills' vocabulary bias."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from edge.asr.onnx.greedy import DecodeOptions
from edge.core.errors import ModelLoadError

logger = logging.getLogger(__name__)

EOT = "<|endoftext|>"
SOT = "<|startoftranscript|>"
NO_TIMESTAMPS = "<|notimestamps|>"


# GPT-2's byte-pair merges come roughly in order of frequency: a word whose first token has a low id
# (" than", " some", " light") is everyday English, and raising it made transcripts worse
# (HWU64 sentences spoken by Piper: WER 10.9% biasing from id 2000, 10.65% from 5000, 10.8% unbiased).
COMMON_TOKENS = 5000


class WhisperTokenizerError(ModelLoadError):
    """tokenizer.json or config.json is missing or is not a Whisper tokenizer."""


class WhisperTokens:
    """Text <-> token ids, and the decoding options Whisper needs (English-only models)."""

    def __init__(self, tokenizer_json: Path, config_json: Path, vocab_size: int) -> None:
        from tokenizers import Tokenizer

        try:
            self._tokenizer = Tokenizer.from_file(str(tokenizer_json))
            config = json.loads(config_json.read_text())
        except (OSError, ValueError, Exception) as error:  # tokenizers raises a bare Exception
            raise WhisperTokenizerError(f"cannot read Whisper tokenizer {tokenizer_json} / {config_json}: {error}") from error
        ids = {name: self._tokenizer.token_to_id(name) for name in (EOT, SOT, NO_TIMESTAMPS)}
        if None in ids.values():
            raise WhisperTokenizerError(f"{tokenizer_json} lacks Whisper's special tokens {sorted(ids)}")
        self.eot, self.sot, self.no_timestamps = ids[EOT], ids[SOT], ids[NO_TIMESTAMPS]
        self.vocab_size = vocab_size
        # Everything from start-of-transcript up (languages, tasks, timestamps) is never text.
        suppress = {int(i) for i in config.get("suppress_ids", [])} | set(range(self.sot, vocab_size))
        self._suppress = tuple(sorted(suppress))
        self._suppress_at_begin = tuple(int(i) for i in config.get("suppress_ids_begin", [220, self.eot]))

    def options(self, max_new_tokens: int) -> DecodeOptions:
        return DecodeOptions(
            prompt=(self.sot, self.no_timestamps), eot=self.eot, suppress=self._suppress,
            suppress_at_begin=self._suppress_at_begin, max_new_tokens=max_new_tokens, vocab_size=self.vocab_size,
        )

    def decode(self, ids: list[int]) -> str:
        return self._tokenizer.decode([i for i in ids if i < self.eot]).strip()

    def encode(self, text: str) -> list[int]:
        return self._tokenizer.encode(text, add_special_tokens=False).ids

    def vocabulary_bias(self, words: Iterable[str], logit: float, min_token_id: int = COMMON_TOKENS) -> np.ndarray | None:
        """A logit bias raising the first token of each vocabulary word (with a leading space, lower
        case and capitalised), where Whisper chooses which word comes next: the skills' words win
        close calls against similar sounds. The word's other tokens follow on their own. Words
        starting with one of the `min_token_id` commonest tokens are left alone."""
        if logit == 0.0:
            return None
        bias = np.zeros(self.vocab_size, dtype=np.float32)
        count = 0
        for word in {w.strip().lower() for w in words if w.strip()}:
            for variant in (f" {word}", f" {word.capitalize()}"):
                ids = self.encode(variant)
                if ids and ids[0] >= min_token_id:
                    bias[ids[0]] = logit
                    count += 1
        logger.debug("vocabulary bias of %+.2f on %d tokens from %d spellings", logit, int(np.count_nonzero(bias)), count)
        return bias

    def phrase_sequences(self, words: Iterable[str], min_token_id: int = COMMON_TOKENS) -> list[list[int]]:
        """Token sequences of each word (lower case and capitalised, after a space) whose first token
        the vocabulary bias raises: the phrases shallow fusion completes (edge/asr/onnx/bias.py)."""
        sequences = []
        for word in {w.strip().lower() for w in words if w.strip()}:
            for variant in (f" {word}", f" {word.capitalize()}"):
                ids = self.encode(variant)
                if len(ids) > 1 and ids[0] >= min_token_id:
                    sequences.append(ids)
        return sequences
