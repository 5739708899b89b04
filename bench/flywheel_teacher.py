"""The teacher that labels the flywheel's unlabelled turns, and the gold stand-in.

    teacher = ProbeTeacher.fit(teacher_examples(data_dir, per_intent=60))
    labels = teacher.label(["what's the weather like in paris"])   # [("weather_query", 0.93)]

`ProbeTeacher` is the bundled all-mpnet-base-v2 (110M, `distill.teacher.teacher_dir("mpnet")`, the
encoder `distill run` fine-tunes as the HWU64 teacher), frozen, mean-pooled and L2-normalised, with
a logistic-regression head fitted on the students' own training data (HWU64 train, the installed
skills' sentences and CLINC150 out-of-scope items), at most `per_intent` per intent. The fine-tuned
teachers of configs/hwu64*.yaml are not kept on this machine, and fine-tuning mpnet takes tens of
minutes per epoch on two cores, so this frozen probe is the teacher the loop can afford; the loop
reports how often it agrees with the gold labels.

`GoldTeacher` looks the gold label up: a stand-in, named as such in every result that uses it.
"""

from __future__ import annotations

import logging
import random
from collections import defaultdict
from pathlib import Path

import numpy as np

from distill.data.records import Example

log = logging.getLogger(__name__)


def teacher_examples(data_dir: Path, per_intent: int, seed: int = 13) -> list[Example]:
    """HWU64 train + skills' sentences + CLINC150 out-of-scope (as `distill train hwu64 --skills --oos`
    builds them), at most `per_intent` per intent, seeded."""
    from distill.data.extra import with_extras
    from distill.data.sources import load_dataset
    from distill.rhino_command import with_out_of_scope

    splits = with_out_of_scope(with_extras(load_dataset("hwu64", data_dir), [], skills=True), data_dir)
    by_intent: dict[str, list[Example]] = defaultdict(list)
    for example in splits["train"]:
        by_intent[example.intent].append(example)
    rng = random.Random(seed)
    return [e for intent in sorted(by_intent) for e in rng.sample(by_intent[intent], min(per_intent, len(by_intent[intent])))]


class ProbeTeacher:
    name = "mpnet-probe"

    def __init__(self, threads: int = 2, batch_size: int = 64) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        from distill.teacher import teacher_dir

        torch.set_num_threads(threads)
        folder = teacher_dir("mpnet")
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder))
        self.encoder = AutoModel.from_pretrained(str(folder)).eval()
        self.batch_size = batch_size
        self.head = None

    @classmethod
    def fit(cls, examples: list[Example], threads: int = 2) -> ProbeTeacher:
        from sklearn.linear_model import LogisticRegression

        teacher = cls(threads)
        vectors = teacher.embed([e.text for e in examples])
        teacher.head = LogisticRegression(C=10.0, max_iter=2000).fit(vectors, [e.intent for e in examples])
        return teacher

    def embed(self, texts: list[str]) -> np.ndarray:
        """Mean-pooled, L2-normalised sentence vectors (as sentence-transformers makes them for this model)."""
        import torch

        chunks = []
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                batch = self.tokenizer(texts[start : start + self.batch_size], padding=True, truncation=True,
                                       max_length=64, return_tensors="pt")
                hidden = self.encoder(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                chunks.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
        return np.concatenate(chunks) if chunks else np.zeros((0, 768), dtype=np.float32)

    def label(self, texts: list[str]) -> list[tuple[str, float]]:
        """(intent, probability) of each text."""
        if not texts:
            return []
        probabilities = self.head.predict_proba(self.embed(texts))
        best = probabilities.argmax(1)
        return [(str(self.head.classes_[i]), float(p[i])) for i, p in zip(best, probabilities, strict=True)]


class GoldTeacher:
    """The gold label of each text (a stand-in for a teacher; never call its labels a teacher's)."""

    name = "gold-stand-in"

    def __init__(self, gold: dict[str, str]) -> None:
        self.gold = gold

    def label(self, texts: list[str]) -> list[tuple[str, float]]:
        return [(self.gold[text], 1.0) for text in texts]
