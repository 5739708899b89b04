"""One LoRA adapter per skill domain on a frozen teacher encoder, stacked at distillation time.

Why: fine-tuning the whole 110M-parameter teacher again for every new skill domain is slow and
makes every earlier domain's behaviour move. Instead the teacher's encoder stays frozen and each
domain (alarm, weather, music, ...) gets its own small peft LoRA adapter plus its own intent head
over [its intents..., "other"], trained on its own utterances and a seeded sample of everybody
else's (the other domains' and out-of-scope utterances, all labelled "other"). A new skill domain
then costs one adapter of a few hundred kilobytes and minutes of training; the adapters already
on disk are never touched.

The adapters are combined into one teacher at distillation time by `distill.domain_stack`.

Layout of `out`: `domains.json` (the manifest: domains, their intents, the base encoder, rank,
settings, per-adapter training records) and `adapters/<domain>/` (peft's `save_pretrained`
files plus `head.safetensors` and `head.json`).

Importing this module imports torch; the CLI imports it lazily.
"""

from __future__ import annotations

import json
import logging
import random
import re
import shutil
import time
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn
from transformers import AutoModel

from distill.data.records import OOS_LABEL
from distill.hwu64 import Utterance
from distill.joint_model import IntentSlotOutput, mean_pool
from distill.recipes import TeacherError, TeacherSettings
from distill.teacher import teacher_dir, teacher_tokenizer
from distill.train import encode, processes, seed_everything, settings_from, train

log = logging.getLogger(__name__)
OTHER = "other"  # the last label of every domain head: "not mine"
MANIFEST = "domains.json"
DEFAULT_RANK = 8  # used when the settings leave lora_rank at 0 (full fine-tuning has no adapters)
_DOMAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*\Z")  # a folder name and a peft adapter name
ADAPTER_FILES = ("adapter_config.json", "head.safetensors", "head.json")


class DomainAdapterError(TeacherError):
    """An adapter folder or the manifest is missing, corrupt or does not fit; the message names
    the path and how to fix it."""


def group_domains(intents: list[str], spec: str | dict[str, list[str]] = "auto") -> dict[str, list[str]]:
    """{domain: its intents}. "auto": the prefix before the first "_" (alarm_set -> alarm); a
    dict is validated: every intent but the out-of-scope label in exactly one domain. Out of
    scope is never a domain."""
    if OTHER in intents:
        raise ValueError(f"an intent may not be called {OTHER!r}: every domain head uses that label for the rest")
    in_scope = [intent for intent in intents if intent != OOS_LABEL]
    if spec == "auto":
        grouped: dict[str, list[str]] = {}
        for intent in in_scope:
            grouped.setdefault(intent.split("_", 1)[0], []).append(intent)
        _check_names(grouped)
        return grouped
    if not isinstance(spec, dict):
        raise ValueError(f"domains must be 'auto' or a mapping {{domain: [intents]}}, not {spec!r}")
    grouped = {str(domain): list(names) for domain, names in spec.items()}
    _check_names(grouped)
    listed = [intent for names in grouped.values() for intent in names]
    unknown = sorted(set(listed) - set(in_scope))
    if unknown:
        raise ValueError(f"domains name intents that are not in the label list (or are out of scope): {unknown}")
    twice = sorted({intent for intent in listed if listed.count(intent) > 1})
    if twice:
        raise ValueError(f"intents in more than one domain: {twice}")
    missing = [intent for intent in in_scope if intent not in listed]
    if missing:
        raise ValueError(f"intents in no domain: {missing}; add each to exactly one domain")
    return grouped


def _check_names(grouped: dict[str, list[str]]) -> None:
    bad = [domain for domain in grouped if not _DOMAIN_NAME.match(domain)]
    if bad:
        raise ValueError(f"domain names must be letters, digits, '_' or '-' (they name folders): {bad}")
    empty = [domain for domain, names in grouped.items() if not names]
    if empty:
        raise ValueError(f"domains without intents: {empty}")


class DomainModel(nn.Module):
    """The shared peft encoder (with this domain's adapter active) and this domain's intent head;
    the forward contract of `distill.train.train` (slot logits are a dummy single "O" tag)."""

    def __init__(self, encoder: nn.Module, labels: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(0.1)
        self.intent_head = nn.Linear(encoder.config.hidden_size, labels)

    def forward(self, input_ids, attention_mask=None, intent_labels=None, slot_labels=None, pooled_layers=False):
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        out = self.encoder(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=pooled_layers)
        intent_logits = self.intent_head(self.dropout(mean_pool(out.last_hidden_state, attention_mask)))
        loss = None if intent_labels is None else nn.functional.cross_entropy(intent_logits, intent_labels)
        slot_logits = intent_logits.new_zeros((*input_ids.shape, 1))
        result = IntentSlotOutput(loss=loss, intent_logits=intent_logits, slot_logits=slot_logits)
        if pooled_layers:
            result["pooled_layers"] = torch.stack([mean_pool(h, attention_mask) for h in out.hidden_states], dim=1)
        return result


def domain_examples(utterances: list[Utterance], own: list[str], domain: str, seed: int) -> list[Utterance]:
    """The domain's own utterances with their intents, plus a seeded sample of the rest labelled
    "other", at most as many as its own (so "other" is at most half). Intent only: no slot tags."""
    mine = [Utterance(u.text, u.intent) for u in utterances if u.intent in own]
    rest = [u for u in utterances if u.intent not in own]
    sample = random.Random(f"{seed}:{domain}").sample(rest, min(len(mine), len(rest)))
    return mine + [Utterance(u.text, OTHER) for u in sample]


def train_domain_adapters(
    data: dict[str, list[Utterance]],
    intents: list[str],
    slot_tags: list[str],
    domains: str | dict[str, list[str]],
    out: Path,
    settings: TeacherSettings,
    only: list[str] | None = None,
) -> dict:
    """Train one LoRA adapter + intent head per domain on one frozen encoder; returns the manifest.

    `domains` is "auto" or {domain: [intents]} (see `group_domains`). `only=None` trains every
    domain not yet on disk (a rerun resumes per domain); `only=[d, ...]` (re)trains exactly
    those, e.g. a newly added domain, leaving every other adapter folder untouched. `slot_tags`
    are recorded only: the domain heads are intent-only."""
    grouped = group_domains(intents, domains)
    manifest = read_manifest(out) if (out / MANIFEST).is_file() else None
    encoder_dir = teacher_dir(settings.model)
    if manifest is not None and Path(manifest["encoder_dir"]) != encoder_dir:
        raise DomainAdapterError(
            f"{out / MANIFEST}: its adapters were trained on {manifest['encoder_dir']}, not {encoder_dir}; "
            "use a new output folder for another encoder"
        )
    todo = _domains_to_train(grouped, manifest, out, only)
    rank = settings.lora_rank or DEFAULT_RANK
    records = _train_domains(data, grouped, todo, encoder_dir, out, settings, rank) if todo else {}
    if not processes().is_main_process:
        return {"adapters": records}
    manifest = _merged_manifest(manifest, grouped, records, encoder_dir, settings, rank, slot_tags)
    _write_json(out / MANIFEST, manifest)
    return manifest


def _domains_to_train(grouped: dict, manifest: dict | None, out: Path, only: list[str] | None) -> list[str]:
    if only is not None:
        unknown = sorted(set(only) - set(grouped))
        if unknown:
            raise ValueError(f"only={unknown}: no such domain; the domains are {sorted(grouped)}")
        return list(only)
    known = (manifest or {}).get("domains", {})
    todo = []
    for domain, names in grouped.items():
        if known.get(domain) == names and (out / "adapters" / domain / "head.json").is_file():
            log.info("domain adapter %s already trained: %s", domain, out / "adapters" / domain)
        else:
            todo.append(domain)
    return todo


def _train_domains(data, grouped, todo, encoder_dir: Path, out: Path, settings: TeacherSettings, rank: int) -> dict:
    from peft import LoraConfig, get_peft_model

    from distill.lora import attention_projections

    tokenizer = teacher_tokenizer(encoder_dir, settings.max_length)
    encoder = AutoModel.from_pretrained(str(encoder_dir), add_pooling_layer=False)
    config = LoraConfig(
        r=rank, lora_alpha=2 * rank, lora_dropout=0.1, target_modules=attention_projections(encoder), bias="none"
    )
    shared = None
    records = {}
    for domain in todo:
        seed_everything(settings.seed)  # each adapter's start does not depend on which others were trained
        if shared is None:
            shared = get_peft_model(encoder, config, adapter_name=domain)
        else:
            shared.add_adapter(domain, config)
        shared.set_adapter(domain)  # trainable: this adapter only; the encoder stays frozen
        labels = grouped[domain] + [OTHER]
        model = DomainModel(shared, len(labels))
        started = time.perf_counter()
        record = _train_domain(model, data, labels, domain, tokenizer, settings)
        record["seconds"] = round(time.perf_counter() - started, 1)
        if processes().is_main_process:
            _save_adapter(shared, model, domain, labels, out)
        records[domain] = {**record, "labels": labels, "lora_rank": rank, "settings": asdict(settings)}
    return records


def _train_domain(model: DomainModel, data, labels: list[str], domain: str, tokenizer, settings) -> dict:
    own = labels[:-1]
    train_examples = domain_examples(data["train"], own, domain, settings.seed)
    valid_examples = domain_examples(data.get("valid", []), own, domain, settings.seed)
    if not any(u.intent in own for u in train_examples):
        raise ValueError(f"domain {domain}: no training utterances for its intents {own}")
    if not valid_examples:
        log.warning("domain %s has no validation utterances: its validation scores are on its training set", domain)
        valid_examples = train_examples
    train_set, valid_set = (encode(items, tokenizer, labels, ["O"]) for items in (train_examples, valid_examples))
    log.info("domain %s: %d training examples (%d of them 'other')", domain, len(train_set), _others(train_examples))
    train_settings = settings_from(settings, bucket_by_length=True)
    history = train(model, train_set, valid_set, ["O"], train_settings)
    return {"train_examples": len(train_set), "other_examples": _others(train_examples), "history": history}


def _others(examples: list[Utterance]) -> int:
    return sum(u.intent == OTHER for u in examples)


def _save_adapter(shared, model: DomainModel, domain: str, labels: list[str], out: Path) -> None:
    """peft's files + the head into adapters/<domain>/, swapped in whole (a kill never leaves
    half an adapter)."""
    from safetensors.torch import save_file

    adapters = out / "adapters"
    staging, old = adapters / f".{domain}.partial", adapters / f".{domain}.old"
    for leftover in (staging, old):
        shutil.rmtree(leftover, ignore_errors=True)
    shared.save_pretrained(str(staging), selected_adapters=[domain])  # writes staging/<domain>/
    saved = next(staging.rglob("adapter_config.json")).parent
    head = {key: value.detach().cpu().contiguous() for key, value in model.intent_head.state_dict().items()}
    save_file(head, str(saved / "head.safetensors"))
    _write_json(saved / "head.json", {"domain": domain, "labels": labels})
    target = adapters / domain
    if target.exists():
        target.rename(old)
    saved.rename(target)
    shutil.rmtree(staging, ignore_errors=True)
    shutil.rmtree(old, ignore_errors=True)
    log.info("saved the %s adapter to %s", domain, target)


def _merged_manifest(manifest, grouped, records, encoder_dir: Path, settings, rank: int, slot_tags) -> dict:
    """The domains trained now, plus those already on disk that the grouping still has."""
    previous = manifest or {"domains": {}, "adapters": {}}
    domains, adapters = {}, {}
    for domain, names in grouped.items():
        if domain in records:
            domains[domain], adapters[domain] = names, records[domain]
        elif domain in previous["domains"]:
            domains[domain], adapters[domain] = previous["domains"][domain], previous["adapters"][domain]
            if domains[domain] != names:
                log.warning(
                    "the %s adapter was trained for %s but the data now has %s: retrain it with only=[%r]",
                    domain,
                    domains[domain],
                    names,
                    domain,
                )
        else:
            log.warning("domain %s has no adapter yet: train it with only=[%r]", domain, domain)
    dropped = sorted(set(previous["domains"]) - set(grouped))
    if dropped:
        log.warning("domains no longer in the data, left out of the manifest (folders kept): %s", dropped)
    return {
        "encoder_dir": str(encoder_dir),
        "oos_label": OOS_LABEL,
        "other_label": OTHER,
        "lora_rank": rank,
        "settings": asdict(settings),
        "slot_tags": list(slot_tags),
        "domains": domains,
        "adapters": adapters,
        # the shape of fine_tune_teacher's record, for stage summaries
        "history": {domain: record["history"] for domain, record in adapters.items()},
        "seconds": round(sum(record["seconds"] for record in adapters.values()), 1),
        "environment": _versions(),
    }


def _versions() -> dict[str, str]:
    import peft
    import transformers

    return {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__}


def _write_json(path: Path, value: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(value, indent=2) + "\n")
    partial.replace(path)


def read_manifest(out: Path) -> dict:
    path = out / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError as error:
        raise DomainAdapterError(f"{path} is missing: train the adapters with train_domain_adapters first") from error
    except json.JSONDecodeError as error:
        raise DomainAdapterError(f"{path} is not valid JSON ({error}): retrain with train_domain_adapters") from error
    if not manifest.get("domains"):
        raise DomainAdapterError(f"{path} lists no trained domains: train them with train_domain_adapters")
    return manifest
