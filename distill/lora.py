"""LoRA adapters (peft) for large teachers: the encoder's attention projections get rank-r
adapters and only those (plus the two heads) are trained, so a teacher per product line costs
megabytes, not a copy of the 110M-parameter encoder.

Target modules are found by name: MPNet calls its projections attn.q/k/v/o, BERT
attention.self.query/key/value and attention.output.dense.
"""

from __future__ import annotations

import logging

from torch import nn

log = logging.getLogger(__name__)
_PROJECTIONS = ("q", "k", "v", "o", "query", "key", "value")


def attention_projections(encoder: nn.Module) -> list[str]:
    """Leaf names of the encoder's attention projection Linears (what LoRA adapts)."""
    names = set()
    for name, module in encoder.named_modules():
        leaf = name.rsplit(".", 1)[-1]
        if isinstance(module, nn.Linear) and leaf in _PROJECTIONS and ("attn" in name or "attention" in name):
            names.add(leaf)
    if not names:
        raise ValueError("no attention projections found to put LoRA adapters on")
    return sorted(names)


def with_lora(model: nn.Module, rank: int, alpha: int | None = None, dropout: float = 0.1) -> nn.Module:
    """`model` (an EncoderForIntentAndSlots) with its encoder wrapped in LoRA adapters; the
    encoder's own weights are frozen, the heads stay trainable."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=rank,
        lora_alpha=alpha or 2 * rank,
        lora_dropout=dropout,
        target_modules=attention_projections(model.encoder),
        bias="none",
    )
    model.encoder = get_peft_model(model.encoder, config)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    log.info("LoRA rank %d on %s: %d of %d parameters trainable", rank, config.target_modules, trainable, total)
    return model
