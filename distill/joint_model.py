"""A BERT encoder with two heads: intent (mean-pooled sentence vector) and BIO slot tags (per token).

Importing this module imports torch and transformers; the CLI imports it lazily. The model is a
`PreTrainedModel`, so `save_pretrained` / `from_pretrained` work and Optimum can export it with
`intent_slot_onnx_config`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from transformers import BertConfig, BertModel, BertPreTrainedModel
from transformers.utils import ModelOutput


@dataclass
class IntentSlotOutput(ModelOutput):
    loss: torch.Tensor | None = None
    intent_logits: torch.Tensor | None = None  # [batch, intents]
    slot_logits: torch.Tensor | None = None  # [batch, tokens, slot tags]
    # [batch, layers + 1, hidden], training only: a declared field, since DDP (`accelerate launch`)
    # rebuilds the output from its fields
    pooled_layers: torch.Tensor | None = None


class BertForIntentAndSlots(BertPreTrainedModel):
    """`config.id2label` names the intents; `config.slot_tags` lists the BIO tags ("O" first)."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__(config)
        self.bert = BertModel(config, add_pooling_layer=False)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.intent_head = nn.Linear(config.hidden_size, config.num_labels)
        self.slot_head = nn.Linear(config.hidden_size, len(config.slot_tags))
        self.post_init()

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        intent_labels: torch.Tensor | None = None,
        slot_labels: torch.Tensor | None = None,
        pooled_layers: bool = False,
    ) -> IntentSlotOutput:
        """`pooled_layers=True` (training only; the ONNX graph never has it) also returns the
        mean-pooled output of every layer, `[batch, layers + 1, hidden]`, for hidden-state distillation."""
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        encoded = self.bert(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=pooled_layers)
        return joint_output(self, encoded, attention_mask, intent_labels, slot_labels, pooled_layers)


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)


def slot_loss(slot_logits: torch.Tensor, slot_labels: torch.Tensor | None) -> torch.Tensor | None:
    """Token cross-entropy over annotated tokens; None when the batch has no slot annotation."""
    if slot_labels is None or not bool((slot_labels != -100).any()):
        return None
    return nn.functional.cross_entropy(
        slot_logits.reshape(-1, slot_logits.shape[-1]), slot_labels.reshape(-1), ignore_index=-100
    )


def joint_output(model, encoded, attention_mask, intent_labels, slot_labels, pooled_layers: bool) -> IntentSlotOutput:
    """The two heads on an encoder's output (any encoder: the student's BERT, the teacher's
    AutoModel); `model` has `dropout`, `intent_head` and `slot_head`."""
    hidden = encoded.last_hidden_state
    intent_logits = model.intent_head(model.dropout(mean_pool(hidden, attention_mask)))
    slot_logits = model.slot_head(model.dropout(hidden))
    loss = None
    if intent_labels is not None:
        loss = nn.functional.cross_entropy(intent_logits, intent_labels)
        slots = slot_loss(slot_logits, slot_labels)
        loss = loss if slots is None else loss + slots
    pooled = None
    if pooled_layers:
        pooled = torch.stack([mean_pool(h, attention_mask) for h in encoded.hidden_states], dim=1)
    return IntentSlotOutput(loss=loss, intent_logits=intent_logits, slot_logits=slot_logits, pooled_layers=pooled)


def new_model(base_dir: str, intents: list[str], slot_tags: list[str]) -> BertForIntentAndSlots:
    """The base encoder's weights with freshly initialised heads."""
    config = BertConfig.from_pretrained(
        base_dir,
        num_labels=len(intents),
        id2label=dict(enumerate(intents)),
        label2id={name: index for index, name in enumerate(intents)},
        architectures=["BertForIntentAndSlots"],
    )
    config.slot_tags = list(slot_tags)  # not a BertConfig field: from_pretrained would drop it
    return BertForIntentAndSlots.from_pretrained(base_dir, config=config)


def intent_slot_onnx_config(config: BertConfig):
    """An Optimum `OnnxConfig`: inputs input_ids + attention_mask, outputs intent and slot logits."""
    from optimum.exporters.onnx.model_configs import BertOnnxConfig

    class IntentSlotOnnxConfig(BertOnnxConfig):
        @property
        def inputs(self) -> dict[str, dict[int, str]]:
            axes = {0: "batch_size", 1: "sequence_length"}
            return {"input_ids": dict(axes), "attention_mask": dict(axes)}

        @property
        def outputs(self) -> dict[str, dict[int, str]]:
            return {
                "intent_logits": {0: "batch_size"},
                "slot_logits": {0: "batch_size", 1: "sequence_length"},
            }

    return IntentSlotOnnxConfig(config, task="feature-extraction")
