"""`distill promote`: a candidate bundle replaces the deployed one only if it is at least as good
on every regression test set.

The registry is a TOML file (default `regression/registry.toml` at the repository root) with one
`[[set]]` table per skill or product line:

    [[set]]
    name = "skills"              # reported when this set blocks a promotion
    dataset = "skills.csv"       # what `distill data` accepts; a file path is relative to the registry
    split = "all"                # train | valid | test | all (default: test, files: all)
    metrics = ["accuracy"]       # must not get worse (default: accuracy, slot_f1, + oos_recall
                                 # where the set has out_of_scope items)
    intents = ["out_of_scope"]   # optional: keep only these gold intents
    limit = 500                  # optional: the first N items only

Both bundles are measured with `distill.bundle_eval.evaluate_examples` (the device runtime). The
swap copies the candidate to a temporary sibling of the deployed folder, renames the deployed
folder to `DIR.previous` (replacing an older one) and the copy to `DIR`. Every decision (dry runs
too) is recorded as JSON in `DIR.promotions/`; a promoted bundle also carries it as `promotion.json`.
`--sign KEY` packs the promoted bundle for `edge update` (distill.signing); with `--product NAME
--publish SOURCE` it also goes on that product line, where its speakers poll (distill.publish).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import platform
import re
import shlex
import shutil
import sys
import tempfile
import tomllib
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from distill.data.records import OOS_LABEL, DataFormatError, Example

log = logging.getLogger(__name__)

DEFAULT_REGISTRY = Path(__file__).resolve().parents[1] / "regression" / "registry.toml"
SPLITS = ("train", "valid", "test", "all")
HIGHER_IS_BETTER = ("accuracy", "accuracy_all", "macro_f1", "oos_recall", "oos_precision", "slot_f1", "exact_match")
LOWER_IS_BETTER = ("ece", "size_mb", "ms_per_query_mean", "ms_per_query_p95")
SET_KEYS = ("name", "dataset", "split", "metrics", "intents", "limit", "max_drop")
REFUSED_EXIT = 1  # the gate said no; 2 is left for bad input (distill.cli)


class RegistryError(DataFormatError):
    """The regression registry is missing or malformed; the message names the file and line."""


@dataclass(frozen=True)
class RegressionSet:
    name: str
    dataset: str  # a public dataset name, or an absolute path to a .csv/.jsonl/.yaml file
    split: str  # train | valid | test | all
    metrics: tuple[str, ...] | None  # None: the defaults (see default_metrics)
    intents: tuple[str, ...] | None = None  # keep only these gold intents
    limit: int | None = None
    max_drop: float | None = None  # allowed drop of every metric of this set (None: the command's --tolerance)


@dataclass(frozen=True)
class Check:
    set: str
    metric: str
    deployed: float | None
    candidate: float | None
    passed: bool
    allowed_drop: float = 0.0


# --- the registry ---------------------------------------------------------------------------


def load_registry(path: Path) -> list[RegressionSet]:
    """The sets of a registry file; RegistryError names the file and line of any problem."""
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError as error:
        raise RegistryError(
            f"{path}: no regression registry here; pass --registry FILE or create it (see regression/registry.toml)"
        ) from error
    try:
        data = tomllib.loads(raw)
    except tomllib.TOMLDecodeError as error:
        found = re.search(r"at line (\d+)", str(error))
        raise RegistryError(f"{path}:{found.group(1) if found else 1}: not valid TOML ({error})") from error
    headers = [number for number, text in enumerate(raw.splitlines(), 1) if re.match(r"\s*\[\[\s*set\s*\]\]", text)]
    tables = data.get("set")
    if not isinstance(tables, list) or not tables or not all(isinstance(t, dict) for t in tables):
        raise RegistryError(f'{path}:1: expected one or more [[set]] tables with name = "..." and dataset = "..."')
    sets = [_regression_set(path, raw, headers, index, table) for index, table in enumerate(tables)]
    names = [s.name for s in sets]
    for index, name in enumerate(names):
        if name in names[:index]:
            raise RegistryError(f"{path}:{_line(raw, headers, index, 'name')}: set name {name!r} is used twice")
    return sets


def _regression_set(path: Path, raw: str, headers: list[int], index: int, table: dict[str, Any]) -> RegressionSet:
    def fail(key: str | None, message: str) -> RegistryError:
        return RegistryError(f"{path}:{_line(raw, headers, index, key)}: set {index + 1}: {message}")

    unknown = sorted(set(table) - set(SET_KEYS))
    if unknown:
        raise fail(unknown[0], f"unknown key {unknown[0]!r}; expected {', '.join(SET_KEYS)}")
    for key in ("name", "dataset"):
        if not isinstance(table.get(key), str) or not table[key].strip():
            raise fail(key if key in table else None, f"{key!r} must be a non-empty string")
    public = table["dataset"] in _public_names()
    dataset = table["dataset"] if public else str((path.parent / table["dataset"]).resolve())
    split = table.get("split", "test" if public else "all")
    if split not in SPLITS:
        raise fail("split", f"split {split!r} is not one of {', '.join(SPLITS)}")
    metrics = table.get("metrics")
    if metrics is not None:
        known = HIGHER_IS_BETTER + LOWER_IS_BETTER
        if not isinstance(metrics, list) or not metrics or any(m not in known for m in metrics):
            raise fail("metrics", f"metrics must be a non-empty list of {', '.join(known)}; got {metrics!r}")
    intents = table.get("intents")
    if intents is not None and (not isinstance(intents, list) or not all(isinstance(i, str) for i in intents)):
        raise fail("intents", "intents must be a list of intent names")
    limit, max_drop = _numbers(table, fail)
    return RegressionSet(
        table["name"].strip(),
        dataset,
        split,
        tuple(metrics) if metrics else None,
        tuple(intents) if intents is not None else None,
        limit,
        max_drop,
    )


def _numbers(table: dict[str, Any], fail) -> tuple[int | None, float | None]:
    """A set's `limit` and `max_drop`, checked (fail(key, message) makes the error to raise)."""
    limit = table.get("limit")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise fail("limit", f"limit must be a positive integer, got {limit!r}")
    max_drop = table.get("max_drop")
    if max_drop is not None and (not isinstance(max_drop, int | float) or isinstance(max_drop, bool) or max_drop < 0):
        raise fail("max_drop", f"max_drop must be a number >= 0 (in the metric's own unit), got {max_drop!r}")
    return limit, None if max_drop is None else float(max_drop)


def _public_names() -> list[str]:
    from distill.data.sources import dataset_names

    return dataset_names()


def _line(raw: str, headers: list[int], index: int, key: str | None) -> int:
    """The line of `key` in the index-th [[set]] table (its header line without a key or a match)."""
    if index >= len(headers):  # sets written as an inline array: point at it
        found = re.search(r"^\s*set\s*=", raw, re.MULTILINE)
        return raw[: found.start()].count("\n") + 1 if found else 1
    lines = raw.splitlines()
    end = headers[index + 1] - 1 if index + 1 < len(headers) else len(lines)
    for number in range(headers[index] + 1, end + 1):
        if key and re.match(rf"\s*{re.escape(key)}\s*=", lines[number - 1]):
            return number
    return headers[index]


def load_examples(regression_set: RegressionSet, data_dir: Path) -> list[Example]:
    from distill.data.sources import load_dataset

    splits = load_dataset(regression_set.dataset, data_dir)
    examples = (
        [e for items in splits.values() for e in items]
        if regression_set.split == "all"
        else splits[regression_set.split]
    )
    if regression_set.intents is not None:
        examples = [e for e in examples if e.intent in regression_set.intents]
    examples = examples[: regression_set.limit]
    if not examples:
        raise DataFormatError(f"regression set {regression_set.name!r}: no examples in {regression_set.dataset}")
    return examples


def default_metrics(examples: list[Example]) -> tuple[str, ...]:
    has_oos = any(e.intent == OOS_LABEL for e in examples)
    return ("accuracy", "slot_f1") + (("oos_recall",) if has_oos else ())


# --- the gate -------------------------------------------------------------------------------


def compare(name: str, metrics: tuple[str, ...], deployed: dict, candidate: dict, tolerance: float) -> list[Check]:
    """One Check per metric; a missing value (None) counts as the worst; both missing: not measured, passes."""
    checks = []
    for metric in metrics:
        old, new = deployed.get(metric), candidate.get(metric)
        if old is None or new is None:
            passed = new is not None or old is None
        elif metric in LOWER_IS_BETTER:
            passed = new <= old + tolerance
        else:
            passed = new >= old - tolerance
        checks.append(Check(name, metric, old, new, passed, tolerance))
    return checks


def run_gate(
    sets: list[RegressionSet], candidate: Path, deployed: Path, data_dir: Path, tolerance: float
) -> tuple[list[Check], dict[str, Any]]:
    """Evaluate both bundles on every set; the checks and the full metrics per set."""
    from distill.bundle_eval import evaluate_examples

    checks: list[Check] = []
    measured: dict[str, Any] = {}
    for regression_set in sets:
        examples = load_examples(regression_set, data_dir)
        log.info("regression set %s: %d items", regression_set.name, len(examples))
        old = evaluate_examples(deployed, examples, progress=False)
        new = evaluate_examples(candidate, examples, progress=False)
        metrics = regression_set.metrics or default_metrics(examples)
        allowed = tolerance if regression_set.max_drop is None else regression_set.max_drop
        checks += compare(regression_set.name, metrics, old, new, allowed)
        measured[regression_set.name] = {
            "items": len(examples),
            "metrics": list(metrics),
            "max_drop": allowed,
            "deployed": old,
            "candidate": new,
        }
    return checks, measured


# --- the swap -------------------------------------------------------------------------------


def install(candidate: Path, deployed: Path, record: dict[str, Any]) -> Path:
    """Replace `deployed` with a copy of `candidate` (+ promotion.json); the old one becomes DIR.previous.

    The copy is made beside `deployed` (same file system), so the swap is two renames; a failed
    rename puts the folders back as they were."""
    previous = deployed.with_name(deployed.name + ".previous")
    staging = Path(tempfile.mkdtemp(prefix=f".{deployed.name}.incoming-", dir=deployed.parent))
    incoming, trash = staging / deployed.name, staging / "old-previous"
    try:
        shutil.copytree(candidate, incoming)
        (incoming / "promotion.json").write_text(json.dumps(record, indent=2) + "\n")
        card = incoming / "MODEL_CARD.md"
        if card.is_file():  # the card carries the gate's figures with the bundle
            card.write_text(card.read_text().rstrip() + "\n\n" + promotion_section(record))
        if previous.exists():
            os.rename(previous, trash)
        try:
            os.rename(deployed, previous)
            try:
                os.rename(incoming, deployed)
            except OSError:
                os.rename(previous, deployed)
                raise
        except OSError:
            if trash.exists():
                os.rename(trash, previous)
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return previous


def promotion_section(record: dict[str, Any]) -> str:
    """The model card's account of the promotion: every regression set, old bundle against new."""

    def show(metric: str, value: float | None) -> str:
        if value is None:
            return "n/a"
        return f"{value:.3f}" if metric in ("ece", "size_mb") or metric.startswith("ms_") else f"{100 * value:.2f}%"

    rows = [
        f"| {c['set']} | {c['metric']} | {show(c['metric'], c['deployed'])} | {show(c['metric'], c['candidate'])} |"
        for c in record["checks"]
    ]
    return (
        "## Regression sets at promotion\n\n"
        f"`{record['command']}` ({record['created']}, tolerance {record['tolerance']}): this bundle against the "
        "one it replaced, on every set of the regression registry.\n\n"
        "| set | metric | replaced bundle | this bundle |\n|---|---|---|---|\n" + "\n".join(rows) + "\n"
    )


def bundle_digest(bundle: Path) -> str:
    return hashlib.sha256((bundle / "model.onnx").read_bytes()).hexdigest()


def _environment() -> dict[str, str]:
    from importlib.metadata import version

    return {
        "onnxruntime": version("onnxruntime"),
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {platform.system()} {platform.release()}",
    }


def write_record(deployed: Path, record: dict[str, Any]) -> Path:
    """The record as DIR.promotions/<UTC time>-<decision>.json (never overwriting an earlier one)."""
    folder = deployed.with_name(deployed.name + ".promotions")
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{datetime.now(UTC):%Y%m%dT%H%M%S.%fZ}-{record['decision'].replace(' ', '-')}"
    path, number = folder / f"{stem}.json", 1
    while path.exists():
        number += 1
        path = folder / f"{stem}-{number}.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path


# --- the command ----------------------------------------------------------------------------


class PromoteCommand:
    name = "promote"
    help = "replace the deployed bundle with a candidate only if no regression set gets worse"

    def register(self, parser: argparse.ArgumentParser) -> None:
        from distill.data.records import default_data_dir

        parser.add_argument("candidate", type=Path, help="the new bundle folder")
        parser.add_argument("--deployed", type=Path, required=True, metavar="DIR", help="the bundle folder in service")
        parser.add_argument(
            "--registry",
            type=Path,
            default=DEFAULT_REGISTRY,
            metavar="FILE",
            help="regression sets, TOML (default: regression/registry.toml in the repository)",
        )
        parser.add_argument("--data", type=Path, default=default_data_dir(), help="shared data folder, for public sets")
        parser.add_argument("--product", metavar="NAME",
                            help="also gate on this product line's sets (regression/NAME/product.toml beside the registry)")
        parser.add_argument(
            "--tolerance", type=float, default=0.0, help="allowed drop per metric, in its own unit (default 0)"
        )
        parser.add_argument("--dry-run", action="store_true", help="evaluate and record, replace nothing")
        parser.add_argument("--sign", type=Path, metavar="KEY",
                            help="after a promotion, pack the bundle signed with this Ed25519 key (distill keygen) for "
                            "`edge update`")
        parser.add_argument("--package", type=Path, metavar="OUT", help="with --sign: the package (default DIR.tar.zst)")
        parser.add_argument("--publish", type=Path, metavar="SOURCE",
                            help="with --sign and --product: put the package on the product's line in this update "
                            "source folder (SOURCE/PRODUCT/latest.json), where its speakers poll (distill publish)")
        from distill.signing import add_sentence_options

        add_sentence_options(parser, DEFAULT_REGISTRY, default_data_dir(), with_registry=False)

    def run(self, args: argparse.Namespace) -> int:
        from edge.nlu.bundle import BundleError, check_bundle_files, read_manifest

        if getattr(args, "publish", None) is not None and (args.sign is None or not args.product):
            raise RegistryError("--publish needs --sign KEY and --product NAME: a line gets only packages signed for it")
        sets = load_registry(args.registry)
        product = None
        if args.product:
            from distill.products import check_product, gate_sets, load_product

            product = load_product(args.product, args.registry)
            check_product(product)
            sets = gate_sets(sets, product)
        for bundle in (args.candidate, args.deployed):
            check_bundle_files(bundle)
            read_manifest(bundle)
        if args.candidate.resolve() == args.deployed.resolve():
            raise BundleError(f"{args.candidate} is the deployed bundle; give a different candidate")
        checks, measured = run_gate(sets, args.candidate, args.deployed, args.data, args.tolerance)
        blocked = [c for c in checks if not c.passed]
        if args.dry_run:
            decision = "would refuse" if blocked else "would promote"
        else:
            decision = "refused" if blocked else "promoted"
        record = {
            "decision": decision,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": "distill " + shlex.join(getattr(args, "argv", sys.argv[1:])),
            "candidate": {"path": str(args.candidate.resolve()), "model_sha256": bundle_digest(args.candidate)},
            "deployed": {"path": str(args.deployed.resolve()), "model_sha256": bundle_digest(args.deployed)},
            "registry": str(args.registry.resolve()),
            "product": None if product is None else {
                "name": product.name, "skills": list(product.skills), "device_profile": product.device_profile,
                "file": str(product.path.resolve()),
            },
            "tolerance": args.tolerance,
            "checks": [asdict(c) for c in checks],
            "blocked_by": [asdict(c) for c in blocked],
            "sets": measured,
            "environment": _environment(),
        }
        if not blocked and not args.dry_run:
            record["previous"] = str(args.deployed.with_name(args.deployed.name + ".previous").resolve())
            install(args.candidate, args.deployed, record)
        path = write_record(args.deployed, record)
        self._print(checks, blocked, record, path, args.tolerance)
        if args.sign is not None and not blocked and not args.dry_run:
            self._ship(args)
        return REFUSED_EXIT if blocked else 0

    @staticmethod
    def _ship(args: argparse.Namespace) -> None:
        """--sign KEY: pack the promoted bundle signed; --publish SOURCE: and put it on the product's line."""
        from distill.signing import sign_after_promotion

        package, line = sign_after_promotion(args)
        print(line)
        if getattr(args, "publish", None) is not None:
            from distill.publish import describe, publish

            index = publish(package, args.publish, args.product)
            print(describe(index, args.publish / index.product))

    @staticmethod
    def _print(checks: list[Check], blocked: list[Check], record: dict, path: Path, tolerance: float) -> None:
        def show(value: float | None) -> str:
            return "n/a" if value is None else f"{value:.4f}"

        width = max(len(c.set) for c in checks) if checks else 0
        for c in checks:
            status = "ok" if c.passed else "WORSE"
            print(
                f"{c.set:<{width}}  {c.metric:<17} deployed {show(c.deployed)}  candidate {show(c.candidate)}  {status}"
            )
        for c in blocked:
            print(
                f"distill promote: refused: set {c.set!r}, {c.metric}: candidate {show(c.candidate)} "
                f"vs deployed {show(c.deployed)} (tolerance {c.allowed_drop:g})",
                file=sys.stderr,
            )
        print(f"{record['decision']}: {record['candidate']['path']} -> {record['deployed']['path']}; record {path}")


# --- the shipped skills set -----------------------------------------------------------------


def write_skill_set(path: Path, per_sentence: int = 5) -> int:
    """Write the built-in skills' example sentences as a `text,intent,slots` CSV; returns the row count.
    regression/skills.csv is made with `python -c "from distill.promote import write_skill_set as w; w('regression/skills.csv')"`."""
    from distill.products import write_skill_rows
    from edge.skills.examples import collect_skill_examples

    return write_skill_rows(Path(path), collect_skill_examples(per_sentence=per_sentence, entry_points=False))
