"""Contextual biasing by shallow fusion over a token trie of the domain's words and phrases.

    trie = PhraseTrie([tokens.encode(" thermostat"), tokens.encode(" living room")], bonus=1.5)
    state = trie.start()
    scores[trie.continuations(state)] += trie.bonus      # each step, before choosing the token
    state = trie.advance(state, token)

A phrase's first token is raised by the vocabulary bias (tokens.py); once it is chosen, each
token that continues a phrase of the trie gets `bonus` until the phrase ends or is abandoned, so
a word Whisper starts ("therm") is finished as the domain spells it ("ostat") rather than as
another word. The decoder is greedy: an abandoned prefix has no later score to lose, so its
penalty is that its bonus simply stops.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


class _Node:
    __slots__ = ("children", "ends")

    def __init__(self) -> None:
        self.children: dict[int, _Node] = {}
        self.ends = False


class PhraseTrie:
    def __init__(self, sequences: Iterable[Iterable[int]], bonus: float) -> None:
        self.bonus = bonus
        self._root = _Node()
        self._continuations: dict[int, np.ndarray] = {}
        for sequence in sequences:
            node = self._root
            for token in sequence:
                node = node.children.setdefault(int(token), _Node())
            node.ends = True

    def __len__(self) -> int:
        return len(self._root.children)

    def start(self) -> tuple[_Node, ...]:
        return ()

    def continuations(self, state: tuple[_Node, ...]) -> np.ndarray:
        """Token ids that continue a phrase in progress (empty when none is)."""
        if not state:
            return np.zeros(0, dtype=np.int64)
        ids = set()
        for node in state:
            ids.update(node.children)
        return np.fromiter(ids, dtype=np.int64)

    def advance(self, state: tuple[_Node, ...], token: int) -> tuple[_Node, ...]:
        """The phrases in progress after `token`: those it continues, and one it starts."""
        following = [node.children[token] for node in state if token in node.children]
        if token in self._root.children:
            following.append(self._root.children[token])
        return tuple(node for node in following if node.children)
