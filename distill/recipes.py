"""The settings of the teacher and student stages (what `distill run` configs may set). Kept
apart from distill.teacher / distill.student so reading a config does not import torch."""

from __future__ import annotations

from dataclasses import dataclass


class TeacherError(RuntimeError):
    """A teacher model cannot be found, assembled or used for this data; the message says how to
    fix it. Here, not in distill.teacher, so the CLI can catch it without importing torch."""


@dataclass(frozen=True)
class TeacherSettings:
    model: str = "mpnet"
    epochs: int = 2
    batch_size: int = 32
    learning_rate: float = 4e-5
    head_learning_rate: float = 2e-3
    max_length: int = 48
    seed: int = 13
    init: str = ""  # a finished teacher folder (teacher.pt) to continue from instead of the bare encoder
    lora_rank: int = 0  # > 0: train LoRA adapters (peft) on the encoder instead of all its weights
    # "auto" (intent-name prefix: alarm_set -> alarm) or {domain: [intents]}: one LoRA adapter and
    # head per skill domain on a frozen encoder, stacked into one teacher (distill.domain_adapters)
    domains: str | dict | None = None
    # finished teacher folders whose averaged logits are the teacher; nothing is trained (distill.ensemble)
    ensemble: list[str] | None = None


@dataclass(frozen=True)
class StudentSettings:
    layers: tuple[int, ...] = (0, 1, 2, 3)  # which of the base model's layers to keep (bottom ones)
    epochs: int = 8
    batch_size: int = 32
    learning_rate: float = 1.5e-4
    head_learning_rate: float = 2e-3
    temperature: float = 2.0
    soft_weight: float = 0.8
    # how the student matches the teacher's intent logits: "kl" (softmax at `temperature`) or
    # "mse" (the raw logits themselves, which also carries their scale: how sure the teacher is)
    soft_loss: str = "kl"
    hidden_weight: float = 1.0
    max_length: int = 48
    seed: int = 13
    prune_vocabulary: bool = True
    characters: str = "ascii"  # single-character tokens kept besides the texts' own: ascii | all
    # with a pruned vocabulary: also keep this many of the transfer texts' most frequent word
    # pieces that the labelled texts lack (fewer words spelled letter by letter; ~0.4 KB each in INT8)
    extra_vocabulary: int = 0
