"""The student: a shallow MiniLM (a few of all-MiniLM-L6-v2's layers) with its vocabulary pruned to
the tokens the domain uses, trained by knowledge distillation from the teacher.

Loss per batch (weights in `StudentSettings`):
    (1 - soft_weight) * cross-entropy(gold intent)
  + soft_weight * T^2 * KL(teacher softmax(z/T) || student softmax(z/T))     soft targets
                  (or, with soft_loss: mse, the mean squared difference of the logits z)
  + hidden_weight * mean over matched layers of (1 - cos(W_l s_l, t_l))      hidden-state matching
  + cross-entropy(gold slot tags)
s_l / t_l are the mean-pooled outputs of a student layer and of the teacher layer at the same
relative depth; the two models tokenise differently, so sentence vectors (not tokens) are
matched, through a learned projection W_l that is dropped after training. Transfer-set texts
(distill.transfer) have no gold intent: only the teacher's terms apply to them.

Vocabulary pruning keeps the special tokens, every token of the training texts (train and
validation), and every ASCII character with its "##" form, so any English word still tokenises
(into smaller pieces) instead of becoming [UNK]. The embedding matrix shrinks with it: for
CLINC150 from 30,522 rows to about 5,900. `extra_vocabulary: N` also keeps the N word pieces most
frequent in the transfer texts that the labelled ones lack (fewer words spelled letter by letter).
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch import nn

from distill.hwu64 import Utterance
from distill.joint_model import slot_loss
from distill.recipes import StudentSettings
from distill.train import IGNORE, encode, processes, seed_everything, settings_from, train

log = logging.getLogger(__name__)
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def pruned_token_ids(texts: list[str], tokenizer, characters: str = "ascii") -> list[int]:
    """Ids (ascending, so [PAD] stays 0) of the tokens to keep: specials, every token of `texts`,
    and the single characters with their ## continuation forms (ASCII ones, or all ~2,000 of
    them with `characters="all"`), so an unseen word is spelled in pieces rather than [UNK]."""
    if characters not in ("ascii", "all"):
        raise ValueError(f"characters must be 'ascii' or 'all', not {characters!r}")
    vocab = tokenizer.get_vocab()
    keep = {vocab[token] for token in SPECIAL_TOKENS if token in vocab}
    for token, token_id in vocab.items():
        single = len(token) == 1 or (token.startswith("##") and len(token) == 3)
        if single and (characters == "all" or token[-1].isascii()):
            keep.add(token_id)
    for encoding in tokenizer.encode_batch(texts):
        keep.update(encoding.ids)
    return sorted(keep)


def frequent_new_token_ids(texts: list[str], tokenizer, kept: set[int], count: int) -> list[int]:
    """The `count` ids most frequent in `texts` that `kept` lacks (ties: the lower id first)."""
    if count <= 0:
        return []
    counts = Counter(i for encoding in tokenizer.encode_batch(texts) for i in encoding.ids if i not in kept)
    return [i for i, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:count]]


def pruned_tokenizer_json(tokenizer_json: str, kept_ids: list[int]) -> str:
    """A tokenizer.json text with only `kept_ids`, renumbered 0..n-1 in their original order
    (padding, truncation and the [CLS]/[SEP] template carried over)."""
    data = json.loads(tokenizer_json)
    new_id = {old: new for new, old in enumerate(kept_ids)}
    vocab = data["model"]["vocab"]
    data["model"]["vocab"] = {
        token: new_id[old] for token, old in sorted(vocab.items(), key=lambda kv: kv[1]) if old in new_id
    }
    for added in data.get("added_tokens", []):
        added["id"] = new_id[added["id"]]
    data["added_tokens"] = [a for a in data.get("added_tokens", []) if a["id"] is not None]
    processor = data.get("post_processor") or {}
    for special in (processor.get("special_tokens") or {}).values():
        special["ids"] = [new_id[i] for i in special["ids"]]
    if data.get("padding"):
        data["padding"]["pad_id"] = new_id[data["padding"]["pad_id"]]
    return json.dumps(data, ensure_ascii=False)


def shallow_student(
    base_dir: Path, intents: list[str], slot_tags: list[str], layers: tuple[int, ...], kept_ids: list[int] | None
):
    """all-MiniLM-L6-v2 with only `layers` and (optionally) only the `kept_ids` embedding rows."""
    from distill.joint_model import new_model

    model = new_model(str(base_dir), intents, slot_tags)
    model.bert.encoder.layer = nn.ModuleList([model.bert.encoder.layer[i] for i in layers])
    model.config.num_hidden_layers = len(layers)
    if kept_ids is not None:
        weight = model.bert.embeddings.word_embeddings.weight.data[kept_ids].clone()
        model.bert.embeddings.word_embeddings = nn.Embedding.from_pretrained(weight, freeze=False, padding_idx=0)
        model.config.vocab_size = len(kept_ids)
    return model


def soft_target_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, settings: StudentSettings):
    if settings.soft_loss == "mse":
        return nn.functional.mse_loss(student_logits, teacher_logits)
    t = settings.temperature
    return nn.functional.kl_div(
        nn.functional.log_softmax(student_logits / t, dim=-1),
        nn.functional.softmax(teacher_logits / t, dim=-1),
        reduction="batchmean",
    ) * (t * t)


class DistillationLoss:
    """`loss_fn` for `distill.train.train`: soft targets, gold labels and pooled hidden-state matching."""

    def __init__(
        self, teacher: dict[str, np.ndarray], student_layers: int, settings: StudentSettings, student_hidden: int
    ):
        self.logits = torch.from_numpy(teacher["logits"]).float()
        teacher_pooled = torch.from_numpy(teacher["pooled"].astype(np.float32))
        teacher_layers = teacher_pooled.shape[1] - 1
        # student layer k (1..n) <- teacher layer at the same relative depth
        self.pairs = [(k, round(k * teacher_layers / student_layers)) for k in range(1, student_layers + 1)]
        self.teacher_pooled = teacher_pooled
        self.projections = nn.ModuleList([nn.Linear(student_hidden, teacher_pooled.shape[-1]) for _ in self.pairs])
        self.settings = settings

    def parameters(self) -> list[nn.Parameter]:
        return list(self.projections.parameters())

    def __call__(self, model, batch: dict) -> torch.Tensor:
        settings = self.settings
        index = batch["example_index"].cpu()  # the teacher's outputs stay in CPU memory
        device = batch["input_ids"].device
        self.projections.to(device)  # in place: the optimiser keeps the same parameters
        out = model(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            slot_labels=None,
            pooled_layers=settings.hidden_weight > 0,
        )
        labels = batch["intent_labels"]  # IGNORE on transfer-set utterances: the teacher alone speaks
        gold = (
            nn.functional.cross_entropy(out.intent_logits, labels, ignore_index=IGNORE)
            if bool((labels != IGNORE).any())
            else out.intent_logits.sum() * 0
        )
        soft = soft_target_loss(out.intent_logits, self.logits[index].to(device), settings)
        loss = (1 - settings.soft_weight) * gold + settings.soft_weight * soft
        if settings.hidden_weight > 0:
            pooled = out["pooled_layers"]
            hidden = torch.stack(
                [
                    1
                    - nn.functional.cosine_similarity(
                        projection(pooled[:, s]), self.teacher_pooled[index, t_layer].to(device), dim=-1
                    ).mean()
                    for projection, (s, t_layer) in zip(self.projections, self.pairs, strict=True)
                ]
            ).mean()
            loss = loss + settings.hidden_weight * hidden
        slots = slot_loss(out.slot_logits, batch["slot_labels"])
        return loss if slots is None else loss + slots


def train_student(
    data: dict[str, list[Utterance]],
    intents: list[str],
    slot_tags: list[str],
    teacher: dict[str, np.ndarray] | None,
    out: Path,
    settings: StudentSettings,
    max_length: int,
    transfer: list[Utterance] = (),
):
    """Train the student into `out` (resumable per epoch); returns (model, tokenizer, record).
    Without `teacher` it is plain fine-tuning of the shallow model (the "no distillation" ablation).
    `transfer` (unlabelled, distill.transfer) follows the training utterances; `teacher` then holds
    the outputs for train + transfer in that order. The vocabulary is pruned to the labelled texts."""
    from tokenizers import Tokenizer

    from distill.baseline import base_model_dir, shipped_tokenizer

    out.mkdir(parents=True, exist_ok=True)
    base = shipped_tokenizer(max_length)
    kept, tokenizer = None, base
    if settings.prune_vocabulary:
        kept = pruned_token_ids([u.text for s in ("train", "valid") for u in data[s]], base, settings.characters)
        kept = sorted(kept + frequent_new_token_ids([u.text for u in transfer], base, set(kept), settings.extra_vocabulary))
        tokenizer_json = pruned_tokenizer_json(base.to_str(), kept)
        tokenizer = Tokenizer.from_str(tokenizer_json)
    if processes().is_main_process:  # under `accelerate launch` every process builds it, one writes it
        if kept is None:
            base.save(str(out / "tokenizer.json"))
        else:
            (out / "tokenizer.json").write_text(tokenizer_json)
    if transfer and teacher is None:
        raise ValueError("a transfer set needs the teacher's outputs (it has no gold labels)")
    train_set = encode(list(data["train"]) + list(transfer), tokenizer, intents, slot_tags)
    valid_set = encode(data["valid"], tokenizer, intents, slot_tags)
    seed_everything(settings.seed)
    model = shallow_student(base_model_dir(), intents, slot_tags, settings.layers, kept)
    train_settings = settings_from(settings, bucket_by_length=True)
    started = time.perf_counter()
    if teacher is not None:
        loss = DistillationLoss(teacher, len(settings.layers), settings, model.config.hidden_size)
        history = train(
            model,
            train_set,
            valid_set,
            slot_tags,
            train_settings,
            loss_fn=loss,
            checkpoint=out / "checkpoint.pt",
            extra_parameters=loss.parameters(),
        )
    else:
        history = train(model, train_set, valid_set, slot_tags, train_settings, checkpoint=out / "checkpoint.pt")
    record = {
        "settings": asdict(settings),
        "distilled": teacher is not None,
        "transfer_utterances": len(transfer),
        "vocabulary": len(kept) if kept is not None else base.get_vocab_size(),
        "parameters": sum(p.numel() for p in model.parameters()),
        "seconds": round(time.perf_counter() - started, 1),
        "history": history,
    }
    return model, tokenizer, record


def kept_tokens_report(tokenizer, texts: list[str]) -> dict[str, float]:
    """How often a text hits [UNK] under the pruned vocabulary (e.g. on the test split)."""
    unk = tokenizer.token_to_id("[UNK]")
    hits = sum(unk in encoding.ids for encoding in tokenizer.encode_batch(texts))
    return {"texts": len(texts), "with_unknown_token": hits, "fraction": hits / max(1, len(texts))}


def trim_positions(model, max_length: int):
    """Keep only the first `max_length` position embeddings: the tokenizer truncates there, so the
    other 512 - max_length rows are never read (exact, and ~0.2 MB less in the bundle)."""
    embeddings = model.bert.embeddings
    if embeddings.position_embeddings.num_embeddings <= max_length:
        return model
    weight = embeddings.position_embeddings.weight.data[:max_length].clone()
    embeddings.position_embeddings = nn.Embedding.from_pretrained(weight, freeze=False)
    embeddings.register_buffer("position_ids", torch.arange(max_length).expand((1, -1)), persistent=False)
    if hasattr(embeddings, "token_type_ids"):
        embeddings.register_buffer("token_type_ids", torch.zeros((1, max_length), dtype=torch.long), persistent=False)
    model.config.max_position_embeddings = max_length
    return model
