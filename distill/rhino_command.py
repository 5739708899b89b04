"""`distill rhino CONTEXT.yaml --out BUNDLE`: migrate a Rhino context in one command.

Expand the context (seeded), add CLINC150 out-of-scope utterances when the data folder has them
(so the bundle can say "not for me"), train with `distill.chain`, then parse held-out sentences
of the context with the device runtime and require the intent and every slot value to match.
The bundle carries the context itself as `domain.json` (edge.core.domain): the device's ASR decodes
inside the grammar and slots snap to the declared values.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from distill.data.public import Splits
from distill.data.records import OOS_LABEL, DataFormatError, Example

log = logging.getLogger(__name__)


def with_out_of_scope(splits: Splits, data_dir: Path, train_limit: int = 100) -> Splits:
    """Append CLINC150 oos items (train: at most `train_limit`; over 100 they come from the
    "oos+" file, which has 250) to each split; unchanged without the data."""
    from distill.data.public import load_clinc150, load_clinc150_plus

    try:
        clinc = load_clinc150_plus(data_dir) if train_limit > 100 else load_clinc150(data_dir)
    except DataFormatError as error:
        log.warning("no out-of-scope examples added (%s); the bundle will never answer out_of_scope", error)
        return splits
    limits = {"train": train_limit, "valid": 50, "test": 50}
    return {
        split: items + [e for e in clinc[split] if e.intent == OOS_LABEL][: limits[split]]
        for split, items in splits.items()
    }


def exact_parse(bundle: Path, examples: list[Example]) -> dict[str, Any]:
    """How many in-context sentences the bundle parses exactly (intent and every slot value)."""
    from distill.bundle_eval import load_model

    model = load_model(bundle)
    failures = []
    for example in examples:
        result = model.predict(example.text)
        got_intent = model.manifest.oos_label if result.out_of_scope else result.intent
        if got_intent != example.intent or result.slots != example.slot_values():
            failures.append(
                {
                    "text": example.text,
                    "expected": [example.intent, example.slot_values()],
                    "got": [got_intent, result.slots],
                }
            )
    return {"sentences": len(examples), "exact": len(examples) - len(failures), "failures": failures[:20]}


def context_domain(context: Path):
    """The Rhino context as the bundle's domain (edge.core.domain.Domain)."""
    from distill.data.rhino import SlotRef, read_context
    from edge.core.domain import Choice as DomainChoice
    from edge.core.domain import Domain
    from edge.core.domain import SlotRef as DomainSlot

    parsed = read_context(context)
    intents = {
        intent: tuple(
            tuple(DomainSlot(p.slot_type, p.name) if isinstance(p, SlotRef) else DomainChoice(p.options) for p in pieces)
            for _line, pieces in expressions
        )
        for intent, expressions in parsed.expressions.items()
    }
    return Domain(intents, dict(parsed.slots), closed=True)


def convert(context: Path, out: Path, data_dir: Path, settings, profile, per_expression: int, command: str) -> dict:
    from distill.bundle_eval import evaluate_examples
    from distill.card import generic_card
    from distill.chain import build_bundle
    from distill.data.report import data_report
    from distill.data.sources import rhino_splits
    from distill.provenance import rounded
    from edge.nlu.bundle import write_domain

    started = time.perf_counter()
    splits = rhino_splits(context, per_expression, settings.seed)
    for warning in data_report(context.name, splits).warnings:
        log.warning("%s", warning)
    full = with_out_of_scope(splits, data_dir)
    manifest = build_bundle(full, out, settings, profile, command)
    write_domain(out, context_domain(context))  # before the check: it parses with the device runtime, snapping included
    check = exact_parse(out, splits["test"])  # the context's own held-out sentences
    manifest["metrics"]["rhino_exact_parse"] = check
    manifest["metrics"]["test"] = evaluate_examples(out, full["test"], progress=False)
    manifest["metrics"]["wall_seconds"] = round(time.perf_counter() - started, 1)
    (out / "bundle.json").write_text(json.dumps(rounded(manifest), indent=2) + "\n")
    (out / "MODEL_CARD.md").write_text(generic_card(manifest))
    if check["exact"] != check["sentences"]:
        log.warning(
            "%d of %d held-out context sentences not parsed exactly; first: %s",
            check["sentences"] - check["exact"],
            check["sentences"],
            check["failures"][:3],
        )
    return manifest
