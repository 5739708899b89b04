"""The intent model on a Rockchip NPU: a bundle's `model.rknn` through rknn-toolkit-lite2.

On an RK3588 board (`pip install rknn-toolkit-lite2`, plus Rockchip's librknnrt.so) the runtime
loads `model.rknn` (made on a PC by `python -m bench.devices.rknn_check`) with `RKNNLite` and runs it
on the NPU. `RknnSession` looks like the part of an onnxruntime session that `IntentModel` uses
(`run`, `get_inputs`, `get_outputs`, `get_providers`), so the rest of the runtime does not care.

RKNN models have a fixed input shape: inputs are padded to the model's length (the device
profile's `max_sequence_length`) and the slot logits cut back to the real tokens.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

RKNN_MAGIC = b"RKNN"
LITE_PACKAGE = "rknn-toolkit-lite2"
PROVIDER_NAME = "RKNNLite-NPU"  # what `get_providers()` reports, beside onnxruntime's names


class RknnModelError(Exception):
    """A `.rknn` file is missing, corrupt, or refused by the NPU runtime; the message names it."""


class RknnUnavailableError(RknnModelError):
    """rknn-toolkit-lite2 (or the NPU runtime library under it) is not installed here."""


@dataclass(frozen=True)
class _Port:
    """What onnxruntime's NodeArg offers and `IntentModel` reads: a name and a shape."""

    name: str
    shape: list[int | str]


def check_rknn_file(path: Path) -> None:
    """Refuse a missing, empty or non-RKNN file before any NPU library is touched."""
    try:
        with path.open("rb") as handle:
            head = handle.read(len(RKNN_MAGIC))
    except OSError as error:
        raise RknnModelError(f"{path} cannot be read: {error}") from error
    if head != RKNN_MAGIC:
        raise RknnModelError(
            f"{path} is not an RKNN model (it does not start with {RKNN_MAGIC!r}); re-export it with "
            "`python -m bench.devices.rknn_check --bundle BUNDLE --out ...` (rknn-toolkit2, make rknn)"
        )


def _import_lite():
    try:
        from rknnlite.api import RKNNLite
    except ImportError as error:
        raise RknnUnavailableError(
            f"{LITE_PACKAGE} is not installed ({error}); on the RK3588 board run `pip install {LITE_PACKAGE}` "
            "(it needs Rockchip's librknnrt.so in /usr/lib), or use the bundle's model.onnx on the CPU"
        ) from error
    return RKNNLite


class RknnSession:
    """One loaded `.rknn` model on the NPU; `run` takes onnxruntime-style feeds."""

    def __init__(self, path: Path, runtime, length: int, intents: int, slot_tags: int) -> None:
        self.path = path
        self._runtime = runtime
        self.length = length  # tokens the model was converted for
        self._inputs = [_Port("input_ids", [1, length]), _Port("attention_mask", [1, length])]
        self._outputs = [_Port("intent_logits", [1, intents]), _Port("slot_logits", [1, length, slot_tags])]

    @classmethod
    def load(cls, path: Path, length: int, intents: int, slot_tags: int) -> RknnSession:
        check_rknn_file(path)
        rknn_lite = _import_lite()
        runtime = rknn_lite(verbose=False)
        if runtime.load_rknn(str(path)) != 0:
            raise RknnModelError(f"{path} was refused by {LITE_PACKAGE} (corrupt, or made for another toolkit version)")
        core = getattr(rknn_lite, "NPU_CORE_AUTO", None)
        started = runtime.init_runtime() if core is None else runtime.init_runtime(core_mask=core)
        if started != 0:
            runtime.release()
            raise RknnUnavailableError(
                f"the NPU runtime did not start for {path}: is this an RK3588 with librknnrt.so and the rknpu driver?"
            )
        logger.info("loaded %s on the NPU (%d tokens)", path, length)
        return cls(path, runtime, length, intents, slot_tags)

    def get_inputs(self) -> list[_Port]:
        return list(self._inputs)

    def get_outputs(self) -> list[_Port]:
        return list(self._outputs)

    def get_providers(self) -> list[str]:
        return [PROVIDER_NAME]

    def run(self, output_names: list[str], feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        ids, mask = feed["input_ids"], feed["attention_mask"]
        tokens = ids.shape[1]
        if tokens > self.length:
            raise RknnModelError(f"{self.path} takes at most {self.length} tokens, got {tokens}")
        padded = [np.pad(array, ((0, 0), (0, self.length - tokens))).astype(np.int64) for array in (ids, mask)]
        intent_logits, slot_logits = self._runtime.inference(inputs=padded, data_format="nchw")[:2]
        by_name = {"intent_logits": np.asarray(intent_logits), "slot_logits": np.asarray(slot_logits)[:, :tokens]}
        return [by_name[name] for name in output_names]

    def close(self) -> None:
        self._runtime.release()
