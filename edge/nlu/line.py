"""A product line's index in an update source: `SOURCE/PRODUCT/latest.json`, beside the package it names.

    write_index(Path("/srv/updates/kitchen"), index)           # distill publish: atomic replace
    index = parse_index(raw_bytes, "https://updates.lan/kitchen/latest.json")   # edge update --check

    {"format": 1, "product": "kitchen", "version": "intent-1a2b3c4d", "package": "intent-1a2b3c4d.tar.zst",
     "size_bytes": 4812345, "sha256": "…", "created": "2026-12-07T16:45:02+00:00", "published": "…"}

`version` is the signed package's NAME-DIGEST8 (edge.nlu.signed.package_version): the folder a
speaker installs it as, so a speaker that has it already downloads nothing. `package` is a file
name in the index's own folder; `size_bytes` and `sha256` are the package file's. The index is not
signed (the package is): a speaker checks the downloaded bytes against it, then the package's
signature, product line and version against the index and its trusted keys.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edge.core.atomic import replaced_atomically
from edge.core.errors import BadInputError
from edge.nlu.signed import PRODUCT_NAME

INDEX = "latest.json"
INDEX_FORMAT = 1
MAX_INDEX_BYTES = 64 * 1024
VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*-[0-9a-f]{8}")
PACKAGE_FILE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\.tar\.zst")
SHA256 = re.compile(r"[0-9a-f]{64}")


class LineIndexError(BadInputError):
    """A product line's latest.json is not one a speaker may follow; the message names the field."""


@dataclass(frozen=True)
class LineIndex:
    product: str  # the product line (regression/NAME/product.toml)
    version: str  # NAME-DIGEST8 of the signed package
    package: str  # its file name, in the same folder as latest.json
    size_bytes: int  # the package file's size
    sha256: str  # the package file's sha256 (hex)
    created: str = ""  # when the package was signed (SIGNED.json `created`)
    published: str = ""  # when it was published to this source

    def to_json(self) -> dict[str, Any]:
        return {"format": INDEX_FORMAT, **asdict(self)}

    @classmethod
    def from_json(cls, data: Any, source: str) -> LineIndex:
        if not isinstance(data, dict):
            raise LineIndexError(f"{source}: the index must be a JSON object")
        if data.get("format") != INDEX_FORMAT:
            raise LineIndexError(f"{source}: index format {data.get('format')!r}, this runtime reads {INDEX_FORMAT}")
        patterns = {"product": PRODUCT_NAME, "version": VERSION, "package": PACKAGE_FILE, "sha256": SHA256}
        for name, pattern in patterns.items():
            value = data.get(name)
            if not isinstance(value, str) or not pattern.fullmatch(value):
                raise LineIndexError(f"{source}: bad {name!r} in the index: {value!r}")
        size = data.get("size_bytes")
        if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
            raise LineIndexError(f"{source}: bad 'size_bytes' in the index: {size!r}")
        for name in ("created", "published"):
            if not isinstance(data.get(name, ""), str):
                raise LineIndexError(f"{source}: bad {name!r} in the index: {data.get(name)!r}")
        return cls(data["product"], data["version"], data["package"], size, data["sha256"],
                   data.get("created", ""), data.get("published", ""))


def parse_index(raw: bytes, source: str) -> LineIndex:
    """The index from latest.json's bytes; LineIndexError says what is wrong with it."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise LineIndexError(f"{source}: the index is not JSON ({error})") from error
    return LineIndex.from_json(data, source)


def write_index(folder: Path, index: LineIndex) -> Path:
    """Write `folder/latest.json` atomically (a temporary file beside it, renamed over it)."""
    LineIndex.from_json(index.to_json(), str(folder / INDEX))  # never publish what a speaker would refuse
    with replaced_atomically(folder / INDEX, "w") as out:
        out.write(json.dumps(index.to_json(), indent=2) + "\n")
    return folder / INDEX
