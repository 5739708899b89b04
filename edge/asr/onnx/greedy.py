"""Greedy Whisper decoding with a key/value cache, over any runner that follows `WhisperRunner`.

The ONNX sessions on the device and the PyTorch model used to check the conversion (distill/)
both implement `WhisperRunner`, so the same loop decodes both and their transcripts can be
compared token for token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from edge.asr.onnx.bias import PhraseTrie


class WhisperRunner(Protocol):
    def encode(self, mel: np.ndarray) -> tuple[Any, Any]:
        """mel [1, 80, frames] -> cross-attention keys and values, in whatever form `step` takes them."""

    def step(
        self, token: int, self_k: np.ndarray, self_v: np.ndarray, cross_k: Any, cross_v: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One token in -> logits [vocab] for the next one, and the grown self-attention cache."""

    def empty_cache(self) -> tuple[np.ndarray, np.ndarray]:
        """Self-attention keys and values for zero past tokens: [layers, 1, 0, width]."""


@dataclass(frozen=True)
class DecodeOptions:
    prompt: tuple[int, ...]  # start-of-transcript sequence (and no-timestamps)
    eot: int  # end of text
    suppress: tuple[int, ...]  # never emitted (non-speech symbols, special and timestamp tokens)
    suppress_at_begin: tuple[int, ...]  # not emitted as the first token (blank, end of text)
    max_new_tokens: int
    vocab_size: int
    min_repeat_tokens: int = 3  # a run of at least this many tokens said again ends decoding (the repeat is cut)


class GreedyDecoder:
    """Holds the suppression mask and the logit bias; `decode` is thread-safe (no shared state)."""

    def __init__(self, options: DecodeOptions, bias: np.ndarray | None = None, phrases: PhraseTrie | None = None) -> None:
        self.options = options
        self._phrases = phrases if phrases is not None and len(phrases) and phrases.bonus else None
        mask = np.zeros(options.vocab_size, dtype=np.float32)
        mask[list(options.suppress)] = -np.inf
        if bias is not None:
            if bias.shape != mask.shape:
                raise ValueError(f"logit bias has shape {bias.shape}, expected ({options.vocab_size},)")
            mask = mask + bias.astype(np.float32)
        self._additive = mask
        self.suppress_mask = np.where(np.isinf(mask), -np.inf, 0.0).astype(np.float32)  # without the bias
        self._begin = list(options.suppress_at_begin)

    def decode(self, runner: WhisperRunner, mel: np.ndarray, max_new_tokens: int | None = None) -> list[int]:
        """Token ids of the transcript (without prompt and end of text)."""
        cross_k, cross_v = runner.encode(mel)
        return self.decode_encoded(runner, cross_k, cross_v, max_new_tokens)

    def decode_encoded(self, runner: WhisperRunner, cross_k: Any, cross_v: Any, max_new_tokens: int | None = None) -> list[int]:
        """`decode` for audio already through the encoder (`runner.encode`)."""
        options = self.options
        limit = options.max_new_tokens if max_new_tokens is None else min(max_new_tokens, options.max_new_tokens)
        self_k, self_v = runner.empty_cache()
        logits = None
        for token in options.prompt:
            logits, self_k, self_v = runner.step(token, self_k, self_v, cross_k, cross_v)
        generated: list[int] = []
        phrases = self._phrases
        in_progress = phrases.start() if phrases is not None else ()
        for index in range(limit):
            scores = logits[: options.vocab_size] + self._additive
            if index == 0:
                scores[self._begin] = -np.inf
            if in_progress:
                scores[phrases.continuations(in_progress)] += phrases.bonus
            token = int(np.argmax(scores))
            if token == options.eot:
                break
            generated.append(token)
            if phrases is not None:
                in_progress = phrases.advance(in_progress, token)
            repeated = _repeated_tail(generated, options.min_repeat_tokens)
            if repeated:
                del generated[-repeated:]
                break
            logits, self_k, self_v = runner.step(token, self_k, self_v, cross_k, cross_v)
        return generated


def _repeated_tail(tokens: list[int], shortest: int) -> int:
    """How many tokens at the end repeat what came just before them, or the transcript's start.

    With a short encoder context Whisper sometimes says the request again ("erase calendar
    events erase calendar events"); a short command never repeats a run of three tokens.
    """
    count = len(tokens)
    for size in range(shortest, count // 2 + 1):
        tail = tokens[-size:]
        if tokens[-2 * size : -size] == tail or tokens[:size] == tail:
            return size
    return 0
