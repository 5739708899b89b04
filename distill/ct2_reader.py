"""Read a CTranslate2 `model.bin` into named numpy arrays (no ctranslate2 needed).

The file is a small header (binary version, spec name, spec revision), then each variable as
name, rank, dims, dtype id, byte count and raw little-endian data, then aliases (a name that
points at another variable). This is the layout `ctranslate2.specs.ModelSpec._serialize` writes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

# The order of CTranslate2's DataType enum (include/ctranslate2/types.h).
_DTYPES = (np.float32, np.int8, np.int16, np.int32, np.float16, None)  # None: bfloat16
SUPPORTED_BINARY_VERSIONS = (5, 6)


class Ct2FormatError(Exception):
    """The file is not a CTranslate2 model this reader understands."""


@dataclass(frozen=True)
class Ct2Model:
    spec: str  # e.g. "WhisperSpec"
    revision: int
    variables: dict[str, np.ndarray]


def read_ct2_model(path: Path) -> Ct2Model:
    with path.open("rb") as handle:
        version = _unpack(handle, "I")
        if version not in SUPPORTED_BINARY_VERSIONS:
            raise Ct2FormatError(
                f"{path}: CTranslate2 binary version {version} is not supported "
                f"(known: {SUPPORTED_BINARY_VERSIONS}); re-convert the model with ctranslate2 4.x"
            )
        spec = _string(handle)
        revision = _unpack(handle, "I")
        variables: dict[str, np.ndarray] = {}
        for _ in range(_unpack(handle, "I")):
            name = _string(handle)
            rank = _unpack(handle, "B")
            shape = tuple(_unpack(handle, "I") for _ in range(rank))
            type_id = _unpack(handle, "B")
            size = _unpack(handle, "I")
            if type_id >= len(_DTYPES) or _DTYPES[type_id] is None:
                raise Ct2FormatError(
                    f"{path}: variable {name} has data type id {type_id}, which this reader cannot read"
                )
            data = handle.read(size)
            if len(data) != size:
                raise Ct2FormatError(f"{path} is truncated inside variable {name}")
            variables[name] = np.frombuffer(data, dtype=_DTYPES[type_id]).reshape(shape)
        for _ in range(_unpack(handle, "I")):
            alias, target = _string(handle), _string(handle)
            variables[alias] = variables[target]
    return Ct2Model(spec, revision, variables)


def _unpack(handle: BinaryIO, fmt: str) -> int:
    size = struct.calcsize(fmt)
    data = handle.read(size)
    if len(data) != size:
        raise Ct2FormatError("unexpected end of file in the model header")
    return struct.unpack("<" + fmt, data)[0]


def _string(handle: BinaryIO) -> str:
    length = _unpack(handle, "H")
    return handle.read(length)[:-1].decode("utf-8")
