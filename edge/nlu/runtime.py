"""Intent and slot recognition on the device: one ONNX session over a model bundle."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from edge.events import IntentResult
from edge.nlu.bundle import BundleError, BundleLabels, BundleManifest, check_bundle_files, read_labels, read_manifest
from edge.nlu.text import normalize_utterance
from edge.settings import NluSettings

logger = logging.getLogger(__name__)

DEFAULT_BUNDLE_NAME = "hwu64-minilm-int8"
ALTERNATIVES_KEPT = 3


def default_bundle_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "models" / DEFAULT_BUNDLE_NAME


class IntentModel:
    """Load once, then `predict(text)` from any thread (onnxruntime sessions are thread-safe)."""

    def __init__(self, bundle_dir: Path, manifest: BundleManifest, labels: BundleLabels, session, tokenizer):
        self.bundle_dir = bundle_dir
        self.manifest = manifest
        self.labels = labels
        self._session = session
        self._tokenizer = tokenizer

    @classmethod
    def load(cls, settings: NluSettings, providers: Sequence[str | tuple[str, dict]] | None = None) -> IntentModel:
        """`providers`: what onnxruntime's InferenceSession takes, e.g. a device profile's choice
        (`devices.detect.choose_providers(...).providers`); None: the CPU provider."""
        import onnxruntime
        from tokenizers import Tokenizer

        bundle_dir = Path(settings.bundle_dir).expanduser() if settings.bundle_dir else default_bundle_dir()
        check_bundle_files(bundle_dir)
        manifest = read_manifest(bundle_dir)
        if settings.oos_threshold >= 0:
            manifest = replace(manifest, oos_threshold=settings.oos_threshold)
        labels = read_labels(bundle_dir)
        try:
            tokenizer = Tokenizer.from_file(str(bundle_dir / "tokenizer.json"))
        except Exception as error:  # tokenizers raises a bare Exception on a bad file
            raise BundleError(f"{bundle_dir / 'tokenizer.json'} is not a valid tokenizer: {error}") from error
        tokenizer.enable_truncation(manifest.max_length)
        tokenizer.no_padding()
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = settings.intra_op_threads
        options.inter_op_num_threads = 1
        try:
            session = onnxruntime.InferenceSession(
                str(bundle_dir / "model.onnx"), options, providers=list(providers or ["CPUExecutionProvider"])
            )
        except Exception as error:  # onnxruntime raises its own untyped errors on a corrupt model
            raise BundleError(f"{bundle_dir / 'model.onnx'} is not a loadable ONNX model: {error}") from error
        _check_signature(session, labels, bundle_dir)
        logger.info("loaded intent bundle %s (%d intents)", bundle_dir.name, len(labels.intents))
        return cls(bundle_dir, manifest, labels, session, tokenizer)

    @property
    def session_providers(self) -> list[str]:
        """The onnxruntime providers the session really got (a missing one falls back)."""
        return self._session.get_providers()

    def predict(self, text: str) -> IntentResult:
        normalized = normalize_utterance(text)
        if not normalized:
            return IntentResult(text="", intent=self.manifest.oos_label, confidence=1.0, out_of_scope=True)
        encoding = self._tokenizer.encode(normalized)
        feed = {
            "input_ids": np.asarray([encoding.ids], dtype=np.int64),
            "attention_mask": np.asarray([encoding.attention_mask], dtype=np.int64),
        }
        intent_logits, slot_logits = self._session.run(["intent_logits", "slot_logits"], feed)
        probabilities = _softmax(intent_logits[0] / self.manifest.temperature)
        ranked = np.argsort(-probabilities)
        intent = self.labels.intents[int(ranked[0])]
        confidence = float(probabilities[ranked[0]])
        out_of_scope = intent == self.manifest.oos_label or confidence < self.manifest.oos_threshold
        tags = [self.labels.slot_tags[int(index)] for index in np.argmax(slot_logits[0], axis=-1)]
        slots = decode_slots(normalized, tags, encoding.offsets, encoding.special_tokens_mask)
        alternatives = [
            (self.labels.intents[int(index)], round(float(probabilities[index]), 4))
            for index in ranked[1 : 1 + ALTERNATIVES_KEPT]
        ]
        return IntentResult(
            text=normalized,
            intent=intent,
            confidence=round(confidence, 4),
            slots=slots,
            out_of_scope=out_of_scope,
            alternatives=alternatives,
        )


def decode_slots(
    text: str, tags: list[str], offsets: list[tuple[int, int]], special: list[int]
) -> dict[str, str]:
    """Merge per-token BIO tags into slot values, cut from `text` by character offsets.

    A run starts at B-x (or at an I-x that does not continue an x run) and goes on while
    tokens are I-x. When one slot type occurs twice, the first occurrence wins.
    """
    spans: list[tuple[str, int, int]] = []
    for tag, (start, end), is_special in zip(tags, offsets, special, strict=True):
        if is_special or tag == "O" or "-" not in tag:
            continue
        prefix, slot_type = tag.split("-", 1)
        if prefix == "I" and spans and spans[-1][0] == slot_type and _adjacent(text, spans[-1][2], start):
            spans[-1] = (slot_type, spans[-1][1], end)
        else:
            spans.append((slot_type, start, end))
    slots: dict[str, str] = {}
    for slot_type, start, end in spans:
        slots.setdefault(slot_type, text[start:end])
    return slots


def _adjacent(text: str, previous_end: int, start: int) -> bool:
    return text[previous_end:start].strip() == ""


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max())
    return shifted / shifted.sum()


def _check_signature(session, labels: BundleLabels, bundle_dir: Path) -> None:
    inputs = {item.name for item in session.get_inputs()}
    outputs = {item.name: item.shape for item in session.get_outputs()}
    if not {"input_ids", "attention_mask"} <= inputs:
        raise BundleError(f"{bundle_dir}/model.onnx must take input_ids and attention_mask, takes {sorted(inputs)}")
    if not {"intent_logits", "slot_logits"} <= set(outputs):
        raise BundleError(f"{bundle_dir}/model.onnx must give intent_logits and slot_logits, gives {sorted(outputs)}")
    intent_width = outputs["intent_logits"][-1]
    if isinstance(intent_width, int) and intent_width != len(labels.intents):
        raise BundleError(
            f"{bundle_dir}: model gives {intent_width} intent scores but labels.json names {len(labels.intents)}"
        )
