"""Grammar-constrained Whisper decoding: beam search over only the token sequences a closed
grammar allows, scored against the free decoder's choices to reject speech that is not for it.

    grammar = TokenGrammar(WordGraph.of(domain), tokens)      # tokens: edge.asr.onnx.tokens.WhisperTokens
    decoder = ConstrainedDecoder(grammar, options, beam=3)
    result = decoder.decode(runner, cross_k, cross_v)          # ConstrainedResult(tokens, score, cost, steps)

Each word of the grammar may be written as Whisper writes words: after a space, in lower case or
capitalised, a number word as digits ("eight" or "8"), or joined by a hyphen ("8-ounce"); a
comma may follow any word and ".", "?" or "!" may end the sentence. The decoder state is the set
of (graph node, tokens left of the current word) the tokens so far can be in, so the allowed next
tokens are known exactly. `cost` adds up, token by token, how much more the free decoder liked
its own best token than the one the grammar let through (nats): near 0 when the speaker said a
sentence of the grammar, large when the grammar forced words onto other speech.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from edge.core.grammar import WordGraph
from edge.core.text.numbers import decimal_to_words

logger = logging.getLogger(__name__)

Item = tuple[int, tuple[int, ...]]  # (node reached once the word ends, the word's tokens still to come)
State = frozenset[Item]

_DIGITS = {decimal_to_words(str(n)): str(n) for n in range(0, 101)}
_PAUSES = (",",)
_ENDS = (".", "?", "!")


@dataclass(frozen=True)
class ConstrainedResult:
    tokens: list[int]  # without the prompt and end of text
    score: float  # log probability of the tokens (and the end of text)
    cost: float  # sum over steps of (free best log prob - chosen log prob), nats
    steps: int  # tokens scored (with the end of text)
    decoder_calls: int  # decoder steps run, over all beams

    @property
    def cost_per_token(self) -> float:
        return self.cost / max(self.steps, 1)


class TokenGrammar:
    """The word graph seen token by token; transitions are computed once and cached."""

    def __init__(self, graph: WordGraph, encode: Callable[[str], list[int]], eot: int) -> None:
        self.graph = graph
        self.eot = eot
        self._encode = encode
        self._variants: dict[str, tuple[tuple[int, ...], ...]] = {}
        self._pauses = {t for p in _PAUSES for t in _single(encode(p))}
        self._ends = {t for p in _ENDS for t in _single(encode(p))}
        self._cache: dict[State, tuple[dict[int, State], bool]] = {}
        self.start: State = frozenset({(graph.start, ())})

    def variants(self, word: str) -> tuple[tuple[int, ...], ...]:
        """Token sequences Whisper may write the word as (after another word)."""
        found = self._variants.get(word)
        if found is None:
            spellings = {f" {word}", f" {word[:1].upper()}{word[1:]}", f"-{word}"}
            if word in _DIGITS:
                spellings |= {f" {_DIGITS[word]}", f"-{_DIGITS[word]}"}
            found = tuple(sorted({tuple(self._encode(s)) for s in spellings if self._encode(s)}))
            self._variants[word] = found
        return found

    def moves(self, state: State) -> tuple[dict[int, State], bool]:
        """Allowed token -> the state after it, and whether the sentence may end here."""
        cached = self._cache.get(state)
        if cached is not None:
            return cached
        following: dict[int, set[Item]] = {}
        can_end = False
        for node, rest in state:
            if rest:
                following.setdefault(rest[0], set()).add((node, rest[1:]))
                continue
            for edge in self.graph.words_from(node):
                for tokens in self.variants(edge.word):
                    following.setdefault(tokens[0], set()).add((edge.target, tokens[1:]))
            at_end = self.graph.intent_at(node) is not None
            can_end = can_end or at_end
            if node != self.graph.start:
                for token in self._pauses | (self._ends if at_end else set()):
                    following.setdefault(token, set()).add((node, ()))
        result = ({token: frozenset(items) for token, items in following.items()}, can_end)
        self._cache[state] = result
        return result


def _single(ids: list[int]) -> list[int]:
    return ids if len(ids) == 1 else []


@dataclass
class _Hypothesis:
    tokens: list[int]
    score: float
    cost: float
    state: State
    logits: np.ndarray
    self_k: Any
    self_v: Any


class ConstrainedDecoder:
    """Beam search in the grammar; hypotheses more than `prune_nats` under the best are dropped."""

    def __init__(self, grammar: TokenGrammar, suppress: np.ndarray, vocab_size: int, beam: int = 3,
                 prune_nats: float = 6.0, max_tokens: int = 96) -> None:
        self.grammar = grammar
        self._suppress = suppress  # additive mask: -inf on tokens Whisper never emits
        self._vocab = vocab_size
        self.beam = beam
        self.prune_nats = prune_nats
        self.max_tokens = max_tokens

    def decode(self, runner, prompt: tuple[int, ...], cross_k, cross_v, beam: int | None = None) -> ConstrainedResult | None:
        """The best sentence of the grammar for the encoded audio, or None if none ends in time."""
        beam = beam or self.beam
        self_k, self_v = runner.empty_cache()
        logits = None
        for token in prompt:
            logits, self_k, self_v = runner.step(token, self_k, self_v, cross_k, cross_v)
        alive = [_Hypothesis([], 0.0, 0.0, self.grammar.start, logits, self_k, self_v)]
        finished: list[_Hypothesis] = []
        calls = 0
        for _ in range(self.max_tokens):
            candidates = self._candidates(alive, beam)
            if not candidates:
                break
            candidates.sort(key=lambda c: -c[0])
            best = candidates[0][0]
            alive = []
            for score, cost, parent, token, state in candidates[:beam]:
                if score < best - self.prune_nats:
                    break
                if token == self.grammar.eot:
                    finished.append(_Hypothesis(parent.tokens, score, cost, state, parent.logits, None, None))
                    continue
                logits, self_k, self_v = runner.step(token, parent.self_k, parent.self_v, cross_k, cross_v)
                calls += 1
                alive.append(_Hypothesis(parent.tokens + [token], score, cost, state, logits, self_k, self_v))
            top = max((h.score for h in finished), default=-np.inf)
            if not alive or top >= max(h.score for h in alive):
                break  # scores only fall: no living hypothesis can beat the best finished one
        if not finished:
            return None
        winner = max(finished, key=lambda h: h.score)
        return ConstrainedResult(winner.tokens, winner.score, winner.cost, len(winner.tokens) + 1, calls)

    def _candidates(self, alive: list[_Hypothesis], beam: int) -> list[tuple[float, float, _Hypothesis, int, State]]:
        candidates = []
        for hypothesis in alive:
            moves, can_end = self.grammar.moves(hypothesis.state)
            scores = hypothesis.logits[: self._vocab] + self._suppress
            peak = float(np.max(scores))
            log_total = peak + float(np.log(np.sum(np.exp(scores - peak))))
            allowed = list(moves) + ([self.grammar.eot] if can_end else [])
            if not allowed:
                continue
            logp = scores[allowed] - log_total
            free_best = peak - log_total
            for index in np.argsort(-logp)[:beam]:
                token, value = allowed[int(index)], float(logp[int(index)])
                if not np.isfinite(value):
                    continue
                candidates.append((hypothesis.score + value, hypothesis.cost + (free_best - value), hypothesis,
                                   token, moves.get(token, hypothesis.state)))
        return candidates
