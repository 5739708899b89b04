"""Tokenise utterances with the shipped tokenizer and fine-tune `BertForIntentAndSlots`.

Slot tags on tokens: every subtoken is tagged; the first subtoken of a slot's first word gets
B-x and every other subtoken of the slot I-x, so merging B/I runs by tokenizer offsets gives
back the annotated words. Special tokens and utterances without annotation are ignored (-100).
"""

from __future__ import annotations

import logging
import os
import random
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from distill.hwu64 import Utterance
from distill.metrics import decode_spans, span_f1

if TYPE_CHECKING:
    from tokenizers import Tokenizer

log = logging.getLogger(__name__)
IGNORE = -100
UNLABELLED = ""  # a transfer-set utterance (distill.transfer): soft targets only, no gold intent


@dataclass(frozen=True)
class TrainSettings:
    epochs: int = 4
    batch_size: int = 32
    learning_rate: float = 1e-4  # encoder
    head_learning_rate: float | None = 1e-3  # the freshly initialised heads; None: learning_rate
    weight_decay: float = 0.01
    warmup_fraction: float = 0.1  # of all optimisation steps
    seed: int = 13
    threads: int = 2
    bucket_by_length: bool = False  # batches of similar length: less padding, ~1.5x faster on CPU


def settings_from(recipe, **overrides) -> TrainSettings:
    """The loop's settings from a recipe (TeacherSettings, StudentSettings, a chain's settings or
    parsed arguments): anything with epochs, batch_size, learning_rate, head_learning_rate, seed."""
    return TrainSettings(
        epochs=recipe.epochs,
        batch_size=recipe.batch_size,
        learning_rate=recipe.learning_rate,
        head_learning_rate=recipe.head_learning_rate,
        seed=recipe.seed,
        **overrides,
    )


@dataclass(frozen=True)
class Encoded:
    input_ids: list[int]
    offsets: list[tuple[int, int]]
    slot_labels: list[int]  # per token, IGNORE for special tokens / unannotated utterances
    intent: int
    index: int = -1  # position in its split; lets a loss look up per-example teacher outputs


def token_tags(text: str, word_tags: tuple[str, ...], offsets: list[tuple[int, int]]) -> list[str | None]:
    """BIO tag per token (None for special tokens) from word-level tags on a space-separated text."""
    word_of_char = np.full(len(text) + 1, -1)
    position = 0
    for index, word in enumerate(text.split(" ")):
        word_of_char[position : position + len(word)] = index
        position += len(word) + 1
    tags: list[str | None] = []
    previous_word = -1
    for start, end in offsets:
        if start == end:
            tags.append(None)
            continue
        word = int(word_of_char[start])
        tag = word_tags[word]
        if tag.startswith("B-") and word == previous_word:
            tag = "I-" + tag[2:]  # a later subtoken of the slot's first word
        tags.append(tag)
        previous_word = word
    return tags


def encode(
    utterances: list[Utterance], tokenizer: Tokenizer, intents: list[str], slot_tags: list[str]
) -> list[Encoded]:
    intent_ids = {name: index for index, name in enumerate(intents)}
    tag_ids = {name: index for index, name in enumerate(slot_tags)}
    encoded = []
    for utterance, encoding in zip(utterances, tokenizer.encode_batch([u.text for u in utterances]), strict=True):
        length = sum(encoding.attention_mask)  # the shipped tokenizer pads a batch to its longest item
        ids, offsets = list(encoding.ids[:length]), [tuple(pair) for pair in encoding.offsets[:length]]
        if utterance.word_tags is None:
            labels = [IGNORE] * len(offsets)
        else:
            tags = token_tags(utterance.text, utterance.word_tags, offsets)
            labels = [IGNORE if tag is None else tag_ids.get(tag, 0) for tag in tags]
        intent = IGNORE if utterance.intent == UNLABELLED else intent_ids[utterance.intent]
        encoded.append(Encoded(ids, offsets, labels, intent, len(encoded)))
    return encoded


def collate(batch: list[Encoded]):
    """Pad to the longest item: ids 0, mask 0, slot labels IGNORE."""
    import torch

    length = max(len(item.input_ids) for item in batch)
    ids = torch.zeros((len(batch), length), dtype=torch.long)
    mask = torch.zeros_like(ids)
    slots = torch.full_like(ids, IGNORE)
    for row, item in enumerate(batch):
        n = len(item.input_ids)
        ids[row, :n] = torch.tensor(item.input_ids)
        mask[row, :n] = 1
        slots[row, :n] = torch.tensor(item.slot_labels)
    intents = torch.tensor([item.intent for item in batch])
    indices = torch.tensor([item.index for item in batch])
    return {
        "input_ids": ids,
        "attention_mask": mask,
        "intent_labels": intents,
        "slot_labels": slots,
        "example_index": indices,
    }


def supervised_loss(model, batch: dict):
    """Cross-entropy on the gold intent and slot tags (the model computes it)."""
    return model(**{k: v for k, v in batch.items() if k != "example_index"}).loss


class LengthBucketSampler:
    """Shuffled batches whose items have similar lengths: shuffle, cut into pools of 50 batches,
    sort each pool by length, batch it, shuffle the batches. Padding drops to a few tokens."""

    def __init__(self, lengths: list[int], batch_size: int, generator) -> None:
        self.lengths, self.batch_size, self.generator = lengths, batch_size, generator

    def __iter__(self):
        import torch

        order = torch.randperm(len(self.lengths), generator=self.generator).tolist()
        pool = 50 * self.batch_size
        batches = []
        for start in range(0, len(order), pool):
            chunk = sorted(order[start : start + pool], key=lambda i: self.lengths[i])
            batches += [chunk[i : i + self.batch_size] for i in range(0, len(chunk), self.batch_size)]
        for position in torch.randperm(len(batches), generator=self.generator).tolist():
            yield batches[position]

    def __len__(self) -> int:
        return -(-len(self.lengths) // self.batch_size)


# How long the other processes of `accelerate launch` wait at a barrier while the main process works
# alone (e.g. `distill run`'s teacher outputs on a large transfer set, on a CPU); if a process fails
# the launcher stops the others at once, so a long wait never hides a crash.
BARRIER_TIMEOUT = timedelta(hours=12)


def on_cpu() -> bool:
    """Train on the CPU: no CUDA device is visible, or `accelerate launch --cpu` asked for it."""
    import torch

    return not torch.cuda.is_available() or os.environ.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true", "yes")


def processes():
    """The processes of this run (`accelerate.PartialState`): this one alone, or those that
    `accelerate launch` / torchrun started, joined in a process group (gloo on the CPU, NCCL on
    GPUs) on first call. The one place that sets the group up: `train` and the stages ask it."""
    from accelerate import PartialState

    return PartialState(cpu=on_cpu(), timeout=BARRIER_TIMEOUT)


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def train(
    model,
    train_set: list[Encoded],
    valid_set: list[Encoded],
    slot_tags: list[str],
    settings: TrainSettings,
    loss_fn=supervised_loss,
    checkpoint: Path | None = None,
    extra_parameters: list | None = None,
) -> list[dict]:
    """Fine-tune in place; returns one log record per epoch (loss, validation scores, seconds).

    `loss_fn(model, batch)` gives the loss (default: the model's own cross-entropy). With
    `checkpoint`, the model, optimiser, scheduler and shuffling state are saved after every epoch
    and a rerun continues after the last finished epoch. `extra_parameters` (e.g. a projection
    used only by the loss) are optimised with the encoder's learning rate.

    The loop runs through Hugging Face Accelerate: alone it is one process on the CPU (or one
    GPU); under `accelerate launch` the model is wrapped for data parallelism (DDP) and every
    process draws the same batches and trains on its slice of each (`shard`), so `batch_size`
    is the global batch and N processes take the same optimisation steps as one; only the main
    process writes checkpoints."""
    import torch
    from accelerate import Accelerator
    from accelerate.utils import DistributedDataParallelKwargs, synchronize_rng_states
    from torch.utils.data import DataLoader
    from tqdm.auto import tqdm
    from transformers import get_linear_schedule_with_warmup

    processes()  # the process group, before Accelerate would set one up without the timeout
    accelerator = Accelerator(
        cpu=on_cpu(),
        # a batch without slot tags (or a rank's slice of one) leaves the slot head out of the loss
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)],
    )
    distributed = accelerator.num_processes > 1
    torch.set_num_threads(threads_per_process(settings.threads) if distributed else settings.threads)
    seed_everything(settings.seed)
    generator = torch.Generator().manual_seed(settings.seed)
    if settings.bucket_by_length:
        sampler = LengthBucketSampler([len(item.input_ids) for item in train_set], settings.batch_size, generator)
        loader = DataLoader(train_set, batch_sampler=sampler, collate_fn=collate)
    else:
        loader = DataLoader(
            train_set, batch_size=settings.batch_size, shuffle=True, collate_fn=collate, generator=generator
        )
    groups = parameter_groups(model, settings)
    if extra_parameters:
        groups.append({"params": list(extra_parameters), "weight_decay": 0.0, "lr": settings.learning_rate})
    optimizer = torch.optim.AdamW(groups, lr=settings.learning_rate)
    steps = settings.epochs * len(loader)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(settings.warmup_fraction * steps), steps)
    history: list[dict] = []
    first_epoch = 1
    if checkpoint is not None and checkpoint.is_file():
        state = torch.load(checkpoint, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        generator.set_state(state["generator"])
        for parameter, saved in zip(extra_parameters or [], state.get("extra", []), strict=False):
            parameter.data.copy_(saved)
        history, first_epoch = state["history"], state["epoch"] + 1
        log.info("resuming from %s after epoch %d", checkpoint, state["epoch"])
    model, optimizer = accelerator.prepare(model, optimizer)  # the loader is not sharded by Accelerate: `shard`
    for epoch in range(first_epoch, settings.epochs + 1):
        if distributed:  # every process must draw the same batches: the main process's order
            synchronize_rng_states(["generator"], generator=generator)
        model.train()
        started, total_loss = time.perf_counter(), 0.0
        progress = tqdm(
            loader, desc=f"epoch {epoch}/{settings.epochs}", unit="batch", disable=not accelerator.is_local_main_process
        )
        for batch in progress:
            loss = train_step(accelerator, model, batch, loss_fn, extra_parameters)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            total_loss += loss
            progress.set_postfix(loss=f"{loss:.3f}")
        seconds = time.perf_counter() - started
        scores = evaluate_torch(accelerator.unwrap_model(model), valid_set, slot_tags)
        record = {"epoch": epoch, "train_loss": total_loss / len(loader), "seconds": round(seconds, 1), **scores}
        log.info(
            "epoch %d: loss %.4f, valid intent accuracy %.4f, valid slot F1 %.4f, %.0f s",
            epoch,
            record["train_loss"],
            scores["valid_intent_accuracy"],
            scores["valid_slot_f1"],
            seconds,
        )
        history.append(record)
        if checkpoint is not None and accelerator.is_main_process:
            checkpoint.parent.mkdir(parents=True, exist_ok=True)
            state = {
                "model": accelerator.unwrap_model(model).state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "generator": generator.get_state(),
                "extra": [parameter.detach().clone() for parameter in extra_parameters or []],
                "history": history,
                "epoch": epoch,
            }
            torch.save(state, checkpoint.with_suffix(".tmp"))
            checkpoint.with_suffix(".tmp").replace(checkpoint)  # atomic: a kill never leaves half a file
        accelerator.wait_for_everyone()
    model = accelerator.unwrap_model(model)
    model.eval()
    if distributed:  # what follows (the main process's stages) runs while the others wait or are done
        torch.set_num_threads(settings.threads)
    return history


def threads_per_process(threads: int) -> int:
    """Torch threads for one of several processes on a machine: `threads` (the machine's share
    for training) divided among the processes launched on it."""
    return max(1, threads // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1"))))


def shard(batch: dict, rank: int, world: int) -> tuple[dict, float]:
    """This process's contiguous slice of a global batch, and the weight of its mean loss.

    The slices differ by at most one item; weighting each process's mean loss by its share
    (items * processes / batch items) makes the gradient that DDP averages the gradient of the
    mean loss over the whole batch, as one process would compute it. A process whose slice is
    empty (a last batch smaller than the number of processes) gets the first item with weight 0,
    so that it still takes part in the gradient exchange."""
    if world == 1:
        return batch, 1.0
    total = len(batch["input_ids"])
    sizes = [total // world + (1 if index < total % world else 0) for index in range(world)]
    start = sum(sizes[:rank])
    if sizes[rank] == 0:
        return {key: value[:1] for key, value in batch.items()}, 0.0
    part = {key: value[start : start + sizes[rank]] for key, value in batch.items()}
    return part, sizes[rank] * world / total


def train_step(accelerator, model, batch: dict, loss_fn, extra_parameters: list | None) -> float:
    """Forward and backward on this process's slice of `batch`, gradients averaged across the
    processes and clipped; returns the loss over the whole batch."""
    world = accelerator.num_processes
    part, weight = shard(batch, accelerator.process_index, world)
    part = {key: value.to(accelerator.device) for key, value in part.items()}
    loss = loss_fn(model, part)
    accelerator.backward(loss * weight if world > 1 else loss)
    if world > 1:
        for parameter in extra_parameters or []:  # outside the DDP model: averaged here
            if parameter.grad is not None:
                parameter.grad = accelerator.reduce(parameter.grad, reduction="mean")
        loss = accelerator.reduce((loss * weight).detach(), reduction="mean")
    accelerator.clip_grad_norm_(model.parameters(), 1.0)
    return loss.item()


def parameter_groups(model, settings: TrainSettings) -> list[dict]:
    """Weight decay except on biases and LayerNorm; the heads may get their own learning rate."""
    groups = []
    for is_head in (False, True):
        for decay in (True, False):
            params = [
                parameter
                for name, parameter in model.named_parameters()
                if name.startswith(("intent_head.", "slot_head.")) == is_head
                and (not name.endswith(("bias", "LayerNorm.weight"))) == decay
            ]
            lr = (settings.head_learning_rate or settings.learning_rate) if is_head else settings.learning_rate
            groups.append({"params": params, "weight_decay": settings.weight_decay if decay else 0.0, "lr": lr})
    return groups


def evaluate_torch(model, items: list[Encoded], slot_tags: list[str], batch_size: int = 128) -> dict[str, float]:
    """Intent accuracy (argmax, no threshold) and slot span F1 on annotated items."""
    import torch

    model.eval()
    device = next(model.parameters()).device
    correct, predicted_spans, gold = 0, [], []
    with torch.inference_mode():
        for start in range(0, len(items), batch_size):
            chunk = items[start : start + batch_size]
            batch = collate(chunk)
            out = model(input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device))
            correct += int((out.intent_logits.argmax(-1).cpu() == batch["intent_labels"]).sum())
            tags = out.slot_logits.argmax(-1).cpu().numpy()
            for row, item in enumerate(chunk):
                if all(label == IGNORE for label in item.slot_labels):
                    continue
                n = len(item.input_ids)
                predicted_spans.append(decode_spans(tags[row, :n], item.offsets, slot_tags))
                gold.append(decode_spans([max(label, 0) for label in item.slot_labels], item.offsets, slot_tags))
    model.train()
    return {"valid_intent_accuracy": correct / len(items), "valid_slot_f1": span_f1(predicted_spans, gold)["f1"]}
