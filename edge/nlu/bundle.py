"""The intent model bundle: the folder `distill` writes and the device reads.

    model.onnx       inputs  input_ids, attention_mask (int64, [batch, tokens])
                     outputs intent_logits [batch, intents], slot_logits [batch, tokens, slot tags]
    tokenizer.json   a Hugging Face `tokenizers` file
    labels.json      {"intents": [...], "slot_tags": ["O", "B-date", "I-date", ...]}
    bundle.json      manifest: format version, max length, calibration temperature,
                     out-of-scope label, score and threshold, device profile, quantization,
                     metrics, and the exact command that produced it
    MODEL_CARD.md    what it is, what it was trained on, how good it is
    domain.json      optional (edge.core.domain): what the bundle listens for, its grammar and slot
                     values (`distill rhino` writes it); the ASR decodes in it, slots snap to its values
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.core.domain import DOMAIN_FILE, Domain, DomainError
from edge.core.errors import ModelLoadError
from edge.nlu.oos import FORMAT_OF_SCORE, OOS_SCORES, PROBABILITY

# 1: the out-of-scope score is the top probability. 2: adds `oos_score` (edge.nlu.oos), e.g. a
# logit margin with `oos_threshold` in logit units. A writer uses the oldest format that holds
# its bundle (FORMAT_OF_SCORE), so probability bundles stay readable by format-1 runtimes.
BUNDLE_FORMAT_VERSION = 2
REQUIRED_FILES = ("model.onnx", "tokenizer.json", "labels.json", "bundle.json")


class BundleError(ModelLoadError):
    """A model bundle is missing, incomplete, corrupt, or from a newer format."""


@dataclass(frozen=True)
class BundleManifest:
    """The contents of `bundle.json`."""

    format_version: int
    max_length: int  # tokens, including [CLS] and [SEP]
    temperature: float  # divide intent logits by this before softmax (calibration)
    oos_label: str  # the intent that means "not for the device", e.g. "out_of_scope"
    oos_threshold: float  # below this in-scope score (`oos_score`) a turn counts as out of scope
    device_profile: str = "generic"
    quantization: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    command: str = ""
    created: str = ""
    base_model: str = ""
    oos_score: str = PROBABILITY  # edge.nlu.oos.OOS_SCORES; format 2 and later

    @classmethod
    def from_json(cls, data: dict[str, Any], source: Path) -> BundleManifest:
        version = data.get("format_version")
        if not isinstance(version, int):
            raise BundleError(f"{source}: 'format_version' is missing or not an integer")
        if version > BUNDLE_FORMAT_VERSION:
            raise BundleError(
                f"{source}: bundle format {version} is newer than this runtime understands "
                f"({BUNDLE_FORMAT_VERSION}); upgrade the edge package or re-export the bundle"
            )
        score = data.get("oos_score", PROBABILITY)
        if score not in OOS_SCORES:
            raise BundleError(f"{source}: 'oos_score' is {score!r}; this runtime knows {', '.join(OOS_SCORES)}")
        if FORMAT_OF_SCORE[score] > version:
            raise BundleError(f"{source}: 'oos_score' {score!r} needs bundle format {FORMAT_OF_SCORE[score]} or later")
        known = {name for name in cls.__dataclass_fields__}
        try:
            return cls(**{key: value for key, value in data.items() if key in known})
        except TypeError as error:
            raise BundleError(f"{source}: {error}") from error

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True)
class BundleLabels:
    """The contents of `labels.json`."""

    intents: tuple[str, ...]
    slot_tags: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"intents": list(self.intents), "slot_tags": list(self.slot_tags)}


def read_manifest(bundle_dir: Path) -> BundleManifest:
    path = bundle_dir / "bundle.json"
    return BundleManifest.from_json(_read_json(path), path)


def read_labels(bundle_dir: Path) -> BundleLabels:
    path = bundle_dir / "labels.json"
    data = _read_json(path)
    intents, slot_tags = data.get("intents"), data.get("slot_tags")
    if not isinstance(intents, list) or not intents:
        raise BundleError(f"{path}: 'intents' must be a non-empty list")
    if not isinstance(slot_tags, list) or "O" not in slot_tags:
        raise BundleError(f"{path}: 'slot_tags' must be a list of BIO tags containing 'O'")
    return BundleLabels(tuple(intents), tuple(slot_tags))


def read_domain(bundle_dir: Path) -> Domain | None:
    """The bundle's domain.json, or None when it has none (bundles trained on a dataset)."""
    path = bundle_dir / DOMAIN_FILE
    if not path.is_file():
        return None
    try:
        return Domain.from_json(_read_json(path), str(path))
    except DomainError as error:
        raise BundleError(str(error)) from error


def write_domain(bundle_dir: Path, domain: Domain) -> Path:
    path = bundle_dir / DOMAIN_FILE
    path.write_text(json.dumps(domain.to_json(), indent=1) + "\n", encoding="utf-8")
    return path


def check_bundle_files(bundle_dir: Path) -> None:
    if not bundle_dir.is_dir():
        raise BundleError(f"intent model bundle {bundle_dir} does not exist or is not a folder")
    missing = [name for name in REQUIRED_FILES if not (bundle_dir / name).is_file()]
    if missing:
        raise BundleError(f"intent model bundle {bundle_dir} lacks {', '.join(missing)}")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise BundleError(f"{path} is missing") from error
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BundleError(f"{path} is not valid JSON: {error}") from error
    if not isinstance(data, dict):
        raise BundleError(f"{path} must hold a JSON object")
    return data
