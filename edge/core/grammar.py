"""A domain's grammar as a graph of words: what may follow what, and how a sentence parses.

    graph = WordGraph.of(domain)                   # edge.core.domain.Domain
    graph.parse("i want a large latte".split())    # Parse(intent="orderDrink", slots={"size": "large", ...}) or None

Nodes are integers; an edge reads one word (or none: an empty option). The first word of a slot
value's path carries the tag (slot name, value), so a path through the graph names its slots;
every expression ends in a node that names its intent. The ASR's grammar-constrained decoder
(edge/asr/onnx/constrained.py) walks the same graph token by token.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from edge.core.domain import Choice, Domain, Piece, SlotRef

Tag = tuple[str, str]  # (slot name, declared value)


@dataclass(frozen=True)
class Parse:
    intent: str
    slots: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class WordEdge:
    word: str
    target: int
    tag: Tag | None = None


class WordGraph:
    """Word edges and empty edges between integer nodes; `finals` maps an end node to its intent."""

    def __init__(self) -> None:
        self.edges: dict[int, list[WordEdge]] = defaultdict(list)
        self.empty: dict[int, list[int]] = defaultdict(list)
        self.finals: dict[int, str] = {}
        self._count = -1
        self.start = self._node()
        self._closures: dict[int, frozenset[int]] = {}

    @classmethod
    def of(cls, domain: Domain) -> WordGraph:
        graph = cls()
        for intent, expressions in domain.intents.items():
            for pieces in expressions:
                end = graph._expression(pieces, domain)
                graph.finals[end] = intent
        return graph

    def _node(self) -> int:
        self._count += 1
        return self._count

    def _expression(self, pieces: tuple[Piece, ...], domain: Domain) -> int:
        node = self.start
        for piece in pieces:
            after = self._node()
            if isinstance(piece, Choice):
                for option in piece.options:
                    self._phrase(node, after, option.split(), None)
            elif isinstance(piece, SlotRef):
                for value in domain.slots[piece.slot_type]:
                    self._phrase(node, after, value.split(), (piece.name, value))
            node = after
        return node

    def _phrase(self, source: int, target: int, words: list[str], tag: Tag | None) -> None:
        if not words:
            self.empty[source].append(target)
            return
        node = source
        for index, word in enumerate(words):
            following = target if index == len(words) - 1 else self._node()
            self.edges[node].append(WordEdge(word, following, tag if index == 0 else None))
            node = following

    def closure(self, node: int) -> frozenset[int]:
        """The node and every node its empty edges reach."""
        found = self._closures.get(node)
        if found is None:
            stack, seen = [node], {node}
            while stack:
                for following in self.empty.get(stack.pop(), ()):
                    if following not in seen:
                        seen.add(following)
                        stack.append(following)
            found = self._closures[node] = frozenset(seen)
        return found

    def words_from(self, node: int) -> list[WordEdge]:
        """Word edges leaving the node or any node its empty edges reach."""
        return [edge for reached in self.closure(node) for edge in self.edges.get(reached, ())]

    def intent_at(self, node: int) -> str | None:
        return next((self.finals[n] for n in sorted(self.closure(node)) if n in self.finals), None)

    def parse(self, words: list[str]) -> Parse | None:
        """The intent and slots of a sentence the grammar allows (the first parse), else None."""
        paths: dict[int, tuple[Tag, ...]] = {self.start: ()}
        for word in words:
            following: dict[int, tuple[Tag, ...]] = {}
            for node, tags in paths.items():
                for edge in self.words_from(node):
                    if edge.word == word and edge.target not in following:
                        following[edge.target] = tags + ((edge.tag,) if edge.tag else ())
            if not following:
                return None
            paths = following
        for node, tags in sorted(paths.items()):
            intent = self.intent_at(node)
            if intent is not None:
                return Parse(intent, dict(tags))
        return None
