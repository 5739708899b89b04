"""`distill publish`: put a signed package on its product line, where the line's speakers poll for it.

    distill publish intent.tar.zst --source /srv/updates            # the line the package is signed for
    distill promote CANDIDATE --deployed DIR --product kitchen --sign keys/acme --publish /srv/updates

The source folder (served as it is by any static HTTP server, or mounted on the speakers) holds
one folder per product line:

    /srv/updates/kitchen/latest.json                   the index (edge.nlu.line): version, file, size, sha256
    /srv/updates/kitchen/intent-1a2b3c4d.tar.zst       the signed package, named by its version

The package is copied first (a temporary name renamed into place), then the index is replaced
atomically, so a speaker never reads an index naming a file that is not all there. Earlier packages
stay (a speaker may be downloading one); delete old ones by hand. A package signed for no line, or
for another line than `--product`, is refused: speakers check the signed product themselves.
"""

from __future__ import annotations

import argparse
import hashlib
from datetime import UTC, datetime
from pathlib import Path

from distill.data.records import DataFormatError
from edge.core.atomic import replaced_atomically


class PublishError(DataFormatError):
    """The package cannot go on the line; the message says why and what to do."""


def publish(package: Path, source: Path, product: str | None = None):
    """Copy `package` into `source/PRODUCT/` and point that line's latest.json at it; the new LineIndex."""
    from edge.core.errors import BadInputError
    from edge.nlu.line import VERSION, LineIndex, write_index
    from edge.nlu.signed import package_manifest, package_version

    try:
        signed, manifest = package_manifest(package)
    except BadInputError as error:
        raise PublishError(str(error)) from error
    signed_for = str(manifest.get("product") or "")
    if not signed_for:
        raise PublishError(f"{package} is signed for no product line: sign it with --product NAME (distill sign, "
                           "or distill promote --product NAME --sign KEY)")
    if product and product != signed_for:
        raise PublishError(f"{package} is signed for the {signed_for!r} line, not {product!r}: refused")
    version = package_version(str(manifest["name"]), hashlib.sha256(signed).hexdigest())
    if not VERSION.fullmatch(version):
        raise PublishError(f"{package}: the bundle's name {manifest['name']!r} cannot name a version; rename its "
                           "folder (letters, digits, '.', '_', '-') and sign it again")
    folder = source / signed_for
    name = f"{version}.tar.zst"
    size, digest = _copy(package, folder, name)
    index = LineIndex(signed_for, version, name, size, digest, str(manifest.get("created") or ""),
                      datetime.now(UTC).isoformat(timespec="seconds"))
    write_index(folder, index)
    return index


def _copy(package: Path, folder: Path, name: str) -> tuple[int, str]:
    """Copy into folder/name by a temporary file and a rename; (size, sha256) of what was written."""
    digest, size = hashlib.sha256(), 0
    with replaced_atomically(folder / name) as out, package.open("rb") as source:
        for block in iter(lambda: source.read(1 << 20), b""):
            out.write(block)
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


def describe(index, folder: Path) -> str:
    return (f"published {index.version} to the {index.product!r} line: {folder / index.package} "
            f"({index.size_bytes} bytes); {folder / 'latest.json'} names it")


class PublishCommand:
    name = "publish"
    help = "put a signed package on its product line (SOURCE/PRODUCT/latest.json) for its speakers to poll"

    def register(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("package", type=Path, help="the signed package (distill sign/promote --sign --product)")
        parser.add_argument("--source", type=Path, required=True, metavar="DIR",
                            help="the update source folder the speakers' update.source reads (served or mounted)")
        parser.add_argument("--product", metavar="NAME",
                            help="refuse unless the package is signed for this line (default: the line it is signed for)")

    def run(self, args: argparse.Namespace) -> int:
        index = publish(args.package, args.source, args.product)
        print(describe(index, args.source / index.product))
        return 0
