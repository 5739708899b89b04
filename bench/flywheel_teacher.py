"""The teachers that label the flywheel's unlabelled turns, and the gold stand-in.

    probe = ProbeTeacher.fit(teacher_examples(data_dir, per_intent=60))
    teacher = EnsembleTeacher([probe, BundleTeacher(shipped_bundle)])
    labels = teacher.label(["what's the weather like in paris"])   # [("weather_query", 0.93)]

`ProbeTeacher` is the bundled all-mpnet-base-v2 (110M, `distill.teacher.teacher_dir("mpnet")`, the
encoder `distill run` fine-tunes as the HWU64 teacher), frozen, mean-pooled and L2-normalised, with
a logistic-regression head fitted on the students' own training data (HWU64 train, the installed
skills' sentences and CLINC150 out-of-scope items), at most `per_intent` per intent. The fine-tuned
teachers of configs/hwu64*.yaml are not kept on this machine, and fine-tuning mpnet takes tens of
minutes per epoch on two cores, so this frozen probe is the teacher the loop can afford; the loop
reports how often it agrees with the gold labels.

`BundleTeacher` is an intent bundle as the device runs it (the cheap teacher `distill corrections`
uses); `EnsembleTeacher` averages its members' distributions, as `distill`'s ensemble teachers
average logits: the frozen probe is weaker than the shipped student on the requests the student is
sure of, and the student is weakest where it is unsure, so the two disagree where it matters.

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
        self._known: dict[str, dict[str, float]] = {}  # text -> distribution (the ensemble and its members ask twice)

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

    def distributions(self, texts: list[str]) -> list[dict[str, float]]:
        """intent -> probability, per text."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._known))
        if missing:
            classes = [str(c) for c in self.head.classes_]
            rows = self.head.predict_proba(self.embed(missing))
            self._known |= {t: dict(zip(classes, map(float, row), strict=True)) for t, row in zip(missing, rows, strict=True)}
        return [self._known[t] for t in texts]

    def label(self, texts: list[str]) -> list[tuple[str, float]]:
        return top(self.distributions(texts))


def top(distributions: list[dict[str, float]]) -> list[tuple[str, float]]:
    """(intent, probability) of the most probable intent of each distribution."""
    return [max(d.items(), key=lambda item: item[1]) for d in distributions]


class BundleTeacher:
    """An intent bundle (edge.nlu IntentModel): its top intent and its next best ones, with probabilities."""

    name = "shipped-bundle"

    def __init__(self, bundle: Path) -> None:
        from distill.bundle_eval import load_model

        self.model = load_model(bundle)

    def distributions(self, texts: list[str]) -> list[dict[str, float]]:
        found = []
        for text in texts:
            result = self.model.predict(text)
            found.append({result.intent: result.confidence, **dict(result.alternatives)})
        return found

    def label(self, texts: list[str]) -> list[tuple[str, float]]:
        return top(self.distributions(texts))


class EnsembleTeacher:
    """The mean of its members' distributions (an intent a member does not list counts 0 there)."""

    def __init__(self, members: list) -> None:
        self.members = members
        self.name = "ensemble(" + "+".join(m.name for m in members) + ")"

    def distributions(self, texts: list[str]) -> list[dict[str, float]]:
        mean: list[dict[str, float]] = [{} for _ in texts]
        for member in self.members:
            for merged, found in zip(mean, member.distributions(texts), strict=True):
                for intent, probability in found.items():
                    merged[intent] = merged.get(intent, 0.0) + probability / len(self.members)
        return mean

    def label(self, texts: list[str]) -> list[tuple[str, float]]:
        return top(self.distributions(texts))


class GoldTeacher:
    """The gold label of each text (a stand-in for a teacher; never call its labels a teacher's)."""

    name = "gold-stand-in"

    def __init__(self, gold: dict[str, str]) -> None:
        self.gold = gold

    def distributions(self, texts: list[str]) -> list[dict[str, float]]:
        return [{self.gold[text]: 1.0} for text in texts]

    def label(self, texts: list[str]) -> list[tuple[str, float]]:
        return top(self.distributions(texts))
