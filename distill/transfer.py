"""The transfer set: utterances without labels that the teacher labels for the student.

A student distilled only on the teacher's training texts sees each intent through a few
hundred sentences; the soft targets say most where the teacher is unsure, which is on texts
it was *not* trained on. Two cheap sources of such texts:

- other public datasets' training texts (`transfer: [hwu64, snips, banking77]`, or a .txt file
  with one utterance per line): mostly out of the domain, so the student learns how the teacher
  spreads its probability off the domain (out-of-scope detection), and where they overlap the
  domain (weather, alarms, music) it learns the teacher's answer;
- noisy copies of the training texts (`augment: N`): a word dropped, two neighbours swapped, a
  word replaced by another from the training texts. Near the decision boundaries by construction.

Transfer utterances carry no gold label (intent `UNLABELLED`): the student's loss uses only the
teacher's soft targets and pooled hidden states on them. Texts equal to any labelled text of the
run (train, valid or test) are left out, so the test split never leaks in.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from pathlib import Path

from distill.data.records import DataFormatError
from distill.hwu64 import Utterance
from distill.train import UNLABELLED
from edge.core.text.normalize import normalize_utterance

log = logging.getLogger(__name__)


def transfer_utterances(
    sources: list[str], data_dir: Path, exclude: set[str], limit: int | None, seed: int
) -> list[Utterance]:
    """The training texts of each source (a dataset name of `distill.data.public.LOADERS` or a .txt
    file), deduplicated, without `exclude`, a seeded sample of at most `limit`."""
    from distill.data.public import LOADERS

    texts: dict[str, None] = {}  # ordered set
    for source in sources:
        if source in LOADERS:
            found = [example.text for example in LOADERS[source](data_dir)["train"]]
        else:
            found = _text_file(Path(source))
        before = len(texts)
        texts.update((text, None) for text in found if text and text not in exclude)
        log.info("transfer set: %d new texts from %s", len(texts) - before, source)
    chosen = list(texts)
    if limit is not None and len(chosen) > limit:
        chosen = random.Random(seed).sample(chosen, limit)
    return [Utterance(text, UNLABELLED) for text in chosen]


def _text_file(path: Path) -> list[str]:
    if not path.is_file():
        from distill.data.public import LOADERS

        raise DataFormatError(
            f"transfer source {str(path)!r} is neither a dataset ({', '.join(sorted(LOADERS))}) nor a text file"
        )
    if path.suffix.lower() != ".txt":
        raise DataFormatError(f"{path}: a transfer file is plain text, one utterance per line (.txt)")
    return [normalize_utterance(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def augmented(utterances: list[Utterance], copies: int, exclude: set[str], seed: int) -> list[Utterance]:
    """`copies` noisy variants of each text (drop, swap or replace one word), unlabelled, each
    different from every labelled text."""
    rng = random.Random(seed)
    words = Counter(word for u in utterances for word in u.text.split(" "))
    vocabulary, weights = list(words), list(words.values())
    made: dict[str, None] = {}
    for utterance in utterances:
        for _ in range(copies):
            text = _noisy(utterance.text.split(" "), rng, vocabulary, weights)
            if text and text not in exclude:
                made[text] = None
    return [Utterance(text, UNLABELLED) for text in made]


def _noisy(words: list[str], rng: random.Random, vocabulary: list[str], weights: list[int]) -> str:
    words = list(words)
    operation = rng.choice(("drop", "swap", "replace")) if len(words) >= 3 else "replace"
    position = rng.randrange(len(words))
    if operation == "drop":
        del words[position]
    elif operation == "swap":
        position = min(position, len(words) - 2)
        words[position], words[position + 1] = words[position + 1], words[position]
    else:
        words[position] = rng.choices(vocabulary, weights)[0]
    return " ".join(words)
