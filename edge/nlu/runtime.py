"""Intent and slot recognition on the device: one ONNX session over a model bundle."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from devices.detect import CPU_PROVIDER, resolve
from devices.sessions import SessionError, SessionFactory
from edge.core.domain import Domain
from edge.core.events import IntentResult
from edge.core.settings import DeviceSettings, NluSettings
from edge.core.text.normalize import normalize_utterance
from edge.nlu.bundle import (
    BundleError,
    BundleLabels,
    BundleManifest,
    check_bundle_files,
    read_domain,
    read_labels,
    read_manifest,
)
from edge.nlu.oos import LOGIT_MARGIN, PROBABILITY, in_scope_scores
from edge.nlu.snap import snap_slots

logger = logging.getLogger(__name__)

DEFAULT_BUNDLE_NAME = "hwu64-minilm-int8"
ALTERNATIVES_KEPT = 3
RKNN_ACCELERATOR = "rknn-toolkit-lite2"  # a device profile's `accelerator` for Rockchip NPUs


def default_bundle_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "models" / DEFAULT_BUNDLE_NAME


def bundle_dir_of(settings: NluSettings) -> Path:
    return Path(settings.bundle_dir).expanduser() if settings.bundle_dir else default_bundle_dir()


class IntentModel:
    """Load once, then `predict(text)` from any thread (onnxruntime sessions are thread-safe)."""

    def __init__(self, bundle_dir: Path, manifest: BundleManifest, labels: BundleLabels, session, tokenizer,
                 domain: Domain | None = None, snap_threshold: float | None = None):
        self.bundle_dir = bundle_dir
        self.manifest = manifest
        self.labels = labels
        self.domain = domain  # what the bundle listens for (domain.json), or None
        self._snap_threshold = snap_threshold  # None: slot spans are kept as tagged
        self._session = session
        self._tokenizer = tokenizer
        oos = manifest.oos_label
        self._oos_index = labels.intents.index(oos) if oos in labels.intents else None

    @classmethod
    def load(
        cls, settings: NluSettings, providers: Sequence[str | tuple[str, dict]] | None = None, session=None,
        sessions: SessionFactory | None = None,
    ) -> IntentModel:
        """`sessions`: the board's session factory (devices.sessions); or `providers`, what onnxruntime's
        InferenceSession takes (a device profile's choice); neither: the CPU provider. `session`: an
        already-loaded model with onnxruntime's session interface (the NPU's `RknnSession`)."""
        from tokenizers import Tokenizer

        bundle_dir = bundle_dir_of(settings)
        check_bundle_files(bundle_dir)
        manifest = read_manifest(bundle_dir)
        if settings.oos_threshold >= 0:
            manifest = replace(manifest, oos_threshold=settings.oos_threshold)
        labels = read_labels(bundle_dir)
        if manifest.oos_score != PROBABILITY and manifest.oos_label not in labels.intents:
            raise BundleError(
                f"{bundle_dir / 'bundle.json'}: oos_score {manifest.oos_score!r} needs the oos_label "
                f"{manifest.oos_label!r} among the intents of labels.json"
            )
        try:
            tokenizer = Tokenizer.from_file(str(bundle_dir / "tokenizer.json"))
        except Exception as error:  # tokenizers raises a bare Exception on a bad file
            raise BundleError(f"{bundle_dir / 'tokenizer.json'} is not a valid tokenizer: {error}") from error
        if session is None:
            sessions = sessions or SessionFactory(tuple(providers or (CPU_PROVIDER,)))
            try:
                session = sessions.create(bundle_dir / "model.onnx", settings.intra_op_threads, f"intent bundle {bundle_dir.name}")
            except SessionError as error:
                raise BundleError(str(error)) from error
        _check_signature(session, labels, bundle_dir)
        tokenizer.enable_truncation(_token_limit(session, manifest.max_length))
        tokenizer.no_padding()
        logger.info("loaded intent bundle %s (%d intents) on %s", bundle_dir.name, len(labels.intents),
                    ", ".join(session.get_providers()))
        domain = read_domain(bundle_dir)
        snap = settings.snap_threshold if domain is not None and settings.snap_slots else None
        return cls(bundle_dir, manifest, labels, session, tokenizer, domain, snap)

    @classmethod
    def for_device(cls, settings: NluSettings, device: DeviceSettings, root: Path = Path("/"),
                   sessions: SessionFactory | None = None) -> IntentModel:
        """The bundle on this board: the device profile's providers in order of preference (missing
        ones fall back to the CPU with one warning; an unknown board gets the generic profile),
        or the bundle's `model.rknn` on the NPU when the profile's accelerator is RKNN (unless
        `device.providers` names onnxruntime providers). `sessions`: the factory the other stages
        share (made here from `device` when None)."""
        detection, _choice = resolve(device.profile, device.providers, root=root)
        rknn_path = bundle_dir_of(settings) / "model.rknn"
        if detection.profile.accelerator == RKNN_ACCELERATOR and not device.providers and rknn_path.is_file():
            session = _rknn_session_or_none(rknn_path, settings, detection.profile.operators.max_sequence_length)
            if session is not None:
                return cls.load(settings, session=session)
        return cls.load(settings, sessions=sessions or SessionFactory.for_device(device.profile, device.providers, root))

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
        manifest = self.manifest
        margin = None  # scored once per query: the router reads it, and margin bundles decide on it
        if self._oos_index is not None:
            margin = float(in_scope_scores(intent_logits[0], manifest.temperature, self._oos_index, LOGIT_MARGIN))
        # edge.nlu.oos.out_of_scope_mask's rule, on the scores already at hand
        score = confidence if manifest.oos_score == PROBABILITY else margin
        out_of_scope = intent == manifest.oos_label or (score is not None and score < manifest.oos_threshold)
        tags = [self.labels.slot_tags[int(index)] for index in np.argmax(slot_logits[0], axis=-1)]
        slots = decode_slots(normalized, tags, encoding.offsets, encoding.special_tokens_mask)
        raw: dict[str, str] = {}
        unsure: list[str] = []
        if self._snap_threshold is not None and self.domain is not None:
            snapped = snap_slots(slots, self.domain, self._snap_threshold)
            slots, raw, unsure = snapped.slots, snapped.raw, snapped.unsure
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
            oos_margin=None if margin is None else round(margin, 4),
            raw_slots=raw,
            unsure_slots=unsure,
        )


def decode_slots(
    text: str, tags: list[str], offsets: list[tuple[int, int]], special: list[int]
) -> dict[str, str]:
    """Merge per-token BIO tags into slot values, cut from `text` by character offsets.

    A run starts at B-x (or at an I-x that does not continue an x run) and goes on while
    tokens are I-x. When one slot type occurs twice, the first occurrence wins. Values are whole
    words (the model is trained on word-level tags): a run that starts or stops inside a word,
    "o" of "oolong", is widened to the word's edges.
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
        start = text.rfind(" ", 0, start) + 1
        space = text.find(" ", end)
        slots.setdefault(slot_type, text[start : len(text) if space < 0 else space])
    return slots


def _adjacent(text: str, previous_end: int, start: int) -> bool:
    return text[previous_end:start].strip() == ""


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max())
    return shifted / shifted.sum()


def _rknn_session_or_none(path: Path, settings: NluSettings, length: int):
    """The NPU session, or None (one warning) when rknn-toolkit-lite2 or the NPU is missing here.
    A corrupt model.rknn is an error: the bundle is broken, not the board."""
    from devices.rknn_runtime import RknnModelError, RknnSession, RknnUnavailableError

    labels = read_labels(bundle_dir_of(settings))
    try:
        return RknnSession.load(path, length, len(labels.intents), len(labels.slot_tags))
    except RknnUnavailableError as error:
        logger.warning("%s; running model.onnx on %s instead", error, CPU_PROVIDER)
        return None
    except RknnModelError as error:
        raise BundleError(str(error)) from error


def _token_limit(session, max_length: int) -> int:
    """The bundle's max length, or less when the model has a fixed, shorter input (an NPU model)."""
    width = session.get_inputs()[0].shape[-1]
    return min(max_length, width) if isinstance(width, int) and width > 0 else max_length


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
