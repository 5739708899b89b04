"""The per-domain LoRA adapters of `distill.domain_adapters`, loaded and stacked into one teacher.

At distillation time the encoder is loaded once, every adapter is attached to it, and each
utterance is run once per adapter. Each domain d gives a distribution p_d over its intents and
"other"; the domains are combined as a product of experts into logits over the full label list
(which holds the out-of-scope label):

    score(intent i of domain d) = log p_d(i) + sum over d' != d of log p_d'(other)
    score(out of scope)         = sum over all d of log p_d(other)

i.e. an intent wins when its own expert claims the utterance and every other expert calls it
"other"; out of scope wins when every expert calls it "other". The softmax of these scores is
the normalised product of the experts. The pooled hidden states handed to hidden-state
distillation are the mean over the adapters of each adapter's mean-pooled layers, so the result
has exactly the shape contract of `distill.teacher.teacher_outputs`.

Importing this module imports torch; `distill.run` imports it lazily.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from transformers import AutoModel

from distill.data.records import OOS_LABEL
from distill.domain_adapters import ADAPTER_FILES, OTHER, DomainAdapterError, read_manifest
from distill.hwu64 import Utterance
from distill.joint_model import mean_pool
from distill.teacher import teacher_tokenizer
from distill.train import IGNORE, Encoded, collate


def load_domain_adapters(out: Path) -> tuple[nn.Module, dict[str, nn.Linear], object, dict]:
    """(the encoder with every domain adapter attached, {domain: head}, tokenizer, manifest),
    in eval mode; the encoder is loaded once."""
    from peft import PeftModel

    manifest = read_manifest(out)
    encoder_dir = Path(manifest["encoder_dir"])
    encoder = AutoModel.from_pretrained(str(encoder_dir), add_pooling_layer=False)
    shared, heads = None, {}
    for domain, names in manifest["domains"].items():
        folder = out / "adapters" / domain
        _check_folder(folder, domain)
        try:
            if shared is None:
                shared = PeftModel.from_pretrained(encoder, str(folder), adapter_name=domain, is_trainable=False)
            else:
                shared.load_adapter(str(folder), adapter_name=domain, is_trainable=False)
            heads[domain] = _load_head(folder, names, encoder.config.hidden_size)
        except Exception as error:  # peft/safetensors raise many kinds; all mean the same here
            raise DomainAdapterError(
                f"{folder}: cannot load the {domain} adapter ({type(error).__name__}: {error}); "
                f"retrain it with train_domain_adapters(..., only=[{domain!r}])"
            ) from error
    shared.eval()
    return shared, heads, teacher_tokenizer(encoder_dir, manifest["settings"]["max_length"]), manifest


def _check_folder(folder: Path, domain: str) -> None:
    missing = [name for name in ADAPTER_FILES if not (folder / name).is_file()]
    if not any(folder.glob("adapter_model.*")):
        missing.append("adapter_model.safetensors")
    if missing:
        raise DomainAdapterError(
            f"{folder}: the {domain} adapter is missing {missing}; "
            f"retrain it with train_domain_adapters(..., only=[{domain!r}])"
        )


def _load_head(folder: Path, names: list[str], hidden: int) -> nn.Linear:
    from safetensors.torch import load_file

    labels = json.loads((folder / "head.json").read_text())["labels"]
    if labels != names + [OTHER]:
        raise ValueError(f"head.json has labels {labels}, the manifest {names + [OTHER]}")
    head = nn.Linear(hidden, len(labels))
    head.load_state_dict(load_file(str(folder / "head.safetensors")))
    return head.eval()


def _columns(domains: dict[str, list[str]], intents: list[str]) -> dict[str, list[int]]:
    """{domain: the column in `intents` of each of its intents}; every in-scope intent covered."""
    if OOS_LABEL not in intents:
        raise ValueError(f"the label list has no {OOS_LABEL!r}: product-of-experts needs the out-of-scope column")
    column = {name: index for index, name in enumerate(intents)}
    stale = sorted(name for names in domains.values() for name in names if name not in column)
    if stale:
        raise DomainAdapterError(f"the adapters know intents that are not in the label list: {stale}; retrain them")
    covered = {name for names in domains.values() for name in names}
    uncovered = [name for name in intents if name != OOS_LABEL and name not in covered]
    if uncovered:
        raise DomainAdapterError(
            f"no domain adapter covers {uncovered}: train their domains with train_domain_adapters(..., only=[...])"
        )
    return {domain: [column[name] for name in names] for domain, names in domains.items()}


def _tokenize(texts: list[str], tokenizer) -> list[Encoded]:
    items = []
    for index, encoding in enumerate(tokenizer.encode_batch(texts)):
        length = sum(encoding.attention_mask)
        items.append(Encoded(list(encoding.ids[:length]), [], [IGNORE] * length, 0, index))
    return items


@torch.inference_mode()
def stacked_teacher_outputs(
    out: Path, utterances: list[Utterance], intents: list[str], batch_size: int = 64
) -> dict[str, np.ndarray]:
    """What `distill.teacher.teacher_outputs` returns, from the stacked domain adapters: product-
    of-experts logits over `intents` [n, len(intents)] float32 and the adapters' mean of the
    mean-pooled hidden states of every layer [n, layers+1, hidden] float16, in `utterances` order."""
    from tqdm.auto import tqdm

    shared, heads, tokenizer, manifest = load_domain_adapters(out)
    columns = _columns(manifest["domains"], intents)
    oos = intents.index(OOS_LABEL)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    shared.to(device)
    items = _tokenize([u.text for u in utterances], tokenizer)
    if not items:
        layers = shared.config.num_hidden_layers + 1
        empty_pooled = np.zeros((0, layers, shared.config.hidden_size), np.float16)
        return {"logits": np.zeros((0, len(intents)), np.float32), "pooled": empty_pooled}
    heads = {domain: head.to(device) for domain, head in heads.items()}
    order = sorted(range(len(items)), key=lambda i: len(items[i].input_ids))  # little padding
    logits, pooled = [None] * len(items), [None] * len(items)
    for start in tqdm(range(0, len(order), batch_size), desc="stacked teacher outputs", unit="batch"):
        chunk = order[start : start + batch_size]
        batch = collate([items[i] for i in chunk])
        scores, layers = _experts(shared, heads, columns, oos, len(intents), batch, device)
        for row, index in enumerate(chunk):
            logits[index] = scores[row].numpy()
            pooled[index] = layers[row].numpy().astype(np.float16)
    return {"logits": np.stack(logits).astype(np.float32), "pooled": np.stack(pooled)}


def _experts(shared, heads, columns, oos: int, labels: int, batch: dict, device: str):
    """One batch through every adapter: (product-of-experts scores [b, labels], mean pooled layers)."""
    ids, mask = batch["input_ids"].to(device), batch["attention_mask"].to(device)
    log_probs, pooled_sum = {}, None
    for domain, head in heads.items():
        shared.set_adapter(domain, inference_mode=True)
        out = shared(input_ids=ids, attention_mask=mask, output_hidden_states=True)
        layers = torch.stack([mean_pool(h, mask) for h in out.hidden_states], dim=1)
        pooled_sum = layers if pooled_sum is None else pooled_sum + layers
        head_logits = head(mean_pool(out.last_hidden_state, mask))
        log_probs[domain] = torch.log_softmax(head_logits.float(), dim=-1)
    all_other = sum(log_p[:, -1] for log_p in log_probs.values())  # every expert says "not mine"
    scores = torch.empty((ids.shape[0], labels), dtype=torch.float32, device=device)
    scores[:, oos] = all_other
    for domain, log_p in log_probs.items():
        # log p_d(i) + sum over d' != d of log p_d'(other)
        scores[:, columns[domain]] = log_p[:, :-1] - log_p[:, -1:] + all_other[:, None]
    return scores.cpu(), (pooled_sum / len(heads)).float().cpu()


@torch.inference_mode()
def stacked_teacher_ms_per_query(out: Path, texts: list[str], intents: list[str], threads: int = 1) -> float:
    """Mean latency of one utterance through every adapter (tokenisation excluded), as
    `distill.teacher.teacher_ms_per_query` measures the single teacher."""
    shared, heads, tokenizer, manifest = load_domain_adapters(out)
    columns, oos = _columns(manifest["domains"], intents), intents.index(OOS_LABEL)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        times = []
        for item in _tokenize(texts, tokenizer):
            batch = collate([item])
            started = time.perf_counter()
            _experts(shared, heads, columns, oos, len(intents), batch, "cpu")
            times.append(time.perf_counter() - started)
        return 1000 * float(np.mean(times[5:] or times))
    finally:
        torch.set_num_threads(previous)


def stacked_teacher_size_mb(out: Path) -> float:
    """The frozen encoder's weights plus every adapter and head."""
    manifest = read_manifest(out)
    encoder = sum(p.stat().st_size for p in Path(manifest["encoder_dir"]).glob("*.safetensors")) or sum(
        p.stat().st_size for p in Path(manifest["encoder_dir"]).glob("*.bin")
    )
    adapters = sum(p.stat().st_size for p in (out / "adapters").rglob("*") if p.is_file())
    return round((encoder + adapters) / 1e6, 2)
