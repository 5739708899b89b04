"""Signed intent-model packages: `BUNDLE.tar.zst`, made by `distill promote --sign`, read by `edge update`.

    write_package(bundle_dir, private_key_pem, Path("hwu64-v2.tar.zst"), sentences, expected_accuracy)
    package = open_package(Path("hwu64-v2.tar.zst"), trusted_keys(Path("/etc/edge/trusted-keys")), into=staging)

The archive is a zstd-compressed tar of exactly three kinds of member, all regular files:

    SIGNED.json        format, bundle name, every file's size and sha256, the self-check (sentences'
                       file, expected accuracy), who made it and when, and the product line it is
                       for (`product`, optional: a speaker of another line refuses it)
    SIGNED.json.sig    Ed25519 signature of SIGNED.json's bytes (64 bytes)
    bundle/NAME        the bundle's files (model.onnx, tokenizer.json, labels.json, bundle.json,
                       MODEL_CARD.md, …) and regression.jsonl: {"text", "intent"} per line

`open_package` refuses, with one line (`PackageRefused`), an archive that is truncated or not zstd
or tar, has any other member (a link, a folder, a path with `/` or `..` under bundle/), no
signature, a signature no trusted key made, or a file whose size or sha256 differs from
SIGNED.json (or one SIGNED.json does not list). Nothing is left in `into` when it refuses.

An installed bundle keeps its SIGNED.json (`installed_version` reads it): the speaker reports
its version, `NAME-DIGEST8` (its folder's name: DIGEST is SIGNED.json's sha256), and product.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import tarfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from edge.core.errors import BadInputError

PACKAGE_FORMAT = 1
SIGNED = "SIGNED.json"
SIGNATURE = "SIGNED.json.sig"
REGRESSION = "regression.jsonl"
BUNDLE_PREFIX = "bundle/"
MAX_MEMBER_BYTES = 512 * 1024 * 1024  # one file of a bundle; a larger member is refused before it is written
MAX_FILES = 64
MAX_TOTAL_BYTES = 1024 * 1024 * 1024  # the whole unpacked package
PRODUCT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # a product line (regression/NAME/product.toml)


class PackageRefused(BadInputError):
    """The package is not one `edge update` may install; the message is one line saying why."""


@dataclass(frozen=True)
class Package:
    name: str  # the bundle's name (its folder name when it was packaged)
    digest: str  # sha256 of SIGNED.json: names this exact package
    key: str  # the trusted key (file stem) whose signature matched
    manifest: dict[str, Any]  # SIGNED.json
    bundle_dir: Path  # where its files were unpacked
    signed: bytes = b""  # SIGNED.json's exact bytes (kept beside the installed bundle)

    @property
    def expected_accuracy(self) -> float:
        return float(self.manifest["self_check"]["expected_accuracy"])

    @property
    def version(self) -> str:
        """`NAME-DIGEST8`: the folder it is installed as, and the version speakers report."""
        return package_version(self.name, self.digest)

    @property
    def product(self) -> str:
        """The product line it was signed for ("" when none)."""
        return str(self.manifest.get("product") or "")

    @property
    def created(self) -> str:
        return str(self.manifest.get("created") or "")


@dataclass(frozen=True)
class BundleVersion:
    """What a speaker reports about the bundle it serves (`edge doctor`, `edge_bundle_info`)."""

    version: str  # NAME-DIGEST8 of its signed package, or the folder's name for a bundle never packaged
    product: str  # the product line it was signed for ("" when none)
    sha256: str  # of its model.onnx (as `distill promote` records it: model_sha256)
    created: str  # when it was signed (or made, for an unsigned bundle)
    signed: bool  # installed from a signed package (its SIGNED.json is beside it)


def package_version(name: str, digest: str) -> str:
    return f"{name}-{digest[:8]}"


# --- keys -----------------------------------------------------------------------------------


def generate_keypair(private_path: Path) -> Path:
    """A new Ed25519 key: PEM private key at `private_path` (mode 600) and the public key beside it
    as `.pub` (what goes into /etc/edge/trusted-keys/). Returns the public key's path."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private_path.parent.mkdir(parents=True, exist_ok=True)
    private_path.touch(mode=0o600, exist_ok=False)
    private_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    public_path = private_path.with_suffix(".pub")
    public_path.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                          serialization.PublicFormat.SubjectPublicKeyInfo))
    return public_path


def trusted_keys(folder: Path) -> dict[str, Any]:
    """name -> Ed25519 public key for every `*.pub` in `folder` (a file that is not one is refused)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    keys = {}
    for path in sorted(folder.glob("*.pub")) if folder.is_dir() else []:
        try:
            key = load_pem_public_key(path.read_bytes())
        except (ValueError, OSError) as error:
            raise PackageRefused(f"trusted key {path} cannot be read: {error}") from error
        if not isinstance(key, Ed25519PublicKey):
            raise PackageRefused(f"trusted key {path} is not an Ed25519 public key")
        keys[path.stem] = key
    return keys


# --- writing (distill promote --sign) -------------------------------------------------------


def write_package(bundle_dir: Path, private_key_pem: bytes, out: Path, sentences: list[dict[str, str]],
                  expected_accuracy: float, made_by: str = "", product: str = "") -> dict[str, Any]:
    """Pack `bundle_dir` with its regression sentences into a signed `out` (.tar.zst); SIGNED.json.
    `product`: the product line it is for (a speaker of another line refuses it)."""
    import zstandard
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    key = load_pem_private_key(private_key_pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise PackageRefused("the signing key is not an Ed25519 private key (distill keygen makes one)")
    _check_product_name(product, "the product")
    files = {path.name: path.read_bytes() for path in sorted(bundle_dir.iterdir())
             if path.is_file() and path.name not in (SIGNED, SIGNATURE)}  # an installed bundle's own record
    files[REGRESSION] = "".join(json.dumps(s, ensure_ascii=False) + "\n" for s in sentences).encode("utf-8")
    manifest = {
        "format": PACKAGE_FORMAT, "name": bundle_dir.name, "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "made_by": made_by,
        "files": {name: {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()} for name, data in files.items()},
        "self_check": {"sentences": REGRESSION, "count": len(sentences), "expected_accuracy": round(expected_accuracy, 4)},
    }
    if product:
        manifest["product"] = product
    signed = json.dumps(manifest, indent=2, sort_keys=True).encode("utf-8")
    members = {SIGNED: signed, SIGNATURE: key.sign(signed), **{BUNDLE_PREFIX + n: d for n, d in files.items()}}
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    with partial.open("wb") as raw, zstandard.ZstdCompressor(level=10).stream_writer(raw) as compressed, \
            tarfile.open(fileobj=compressed, mode="w|") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            archive.addfile(info, io.BytesIO(data))
    partial.replace(out)
    return manifest


# --- reading (edge update) ------------------------------------------------------------------


def open_package(archive: Path, keys: dict[str, Any], into: Path) -> Package:
    """Verify `archive` and unpack its bundle into `into` (created; removed again on refusal)."""
    if not keys:
        raise PackageRefused("no trusted keys: put the publisher's Ed25519 .pub into update.trusted_keys_dir")
    into.mkdir(parents=True)
    try:
        signed, signature = _unpack(archive, into)
        key_name = _verify_signature(signed, signature, keys, archive)
        manifest = _manifest(signed, archive)
        _check_files(manifest, into, archive)
    except BaseException:
        shutil.rmtree(into, ignore_errors=True)
        raise
    return Package(str(manifest["name"]), hashlib.sha256(signed).hexdigest(), key_name, manifest, into, signed)


def _unpack(archive: Path, into: Path) -> tuple[bytes, bytes | None]:
    import zstandard

    signed, signature = None, None
    total = 0
    try:
        with archive.open("rb") as raw, zstandard.ZstdDecompressor().stream_reader(raw) as stream, \
                tarfile.open(fileobj=stream, mode="r|") as tar:
            for count, member in enumerate(tar, start=1):
                if count > MAX_FILES + 2:
                    raise PackageRefused(f"{archive.name}: more than {MAX_FILES} files")
                total += member.size
                if total > MAX_TOTAL_BYTES:
                    raise PackageRefused(f"{archive.name}: over {MAX_TOTAL_BYTES >> 20} MB unpacked")
                data = _read_member(tar, member, archive)
                if member.name == SIGNED:
                    signed = data
                elif member.name == SIGNATURE:
                    signature = data
                else:
                    (into / member.name.removeprefix(BUNDLE_PREFIX)).write_bytes(data)
    except (OSError, EOFError, tarfile.TarError, zstandard.ZstdError) as error:
        raise PackageRefused(f"{archive.name} is truncated or not a .tar.zst bundle ({error})") from error
    if signed is None:
        raise PackageRefused(f"{archive.name} has no {SIGNED}: not a signed bundle")
    return signed, signature


def _read_member(tar: tarfile.TarFile, member: tarfile.TarInfo, archive: Path) -> bytes:
    name = member.name
    allowed = name in (SIGNED, SIGNATURE) or (
        name.startswith(BUNDLE_PREFIX) and "/" not in name[len(BUNDLE_PREFIX):]
        and name[len(BUNDLE_PREFIX):] not in ("", ".", ".."))
    if not member.isfile() or not allowed:
        raise PackageRefused(f"{archive.name}: unexpected member {name!r} (only regular files SIGNED.json, "
                             f"SIGNED.json.sig and bundle/NAME)")
    if member.size > MAX_MEMBER_BYTES:
        raise PackageRefused(f"{archive.name}: {name} is {member.size} bytes, over the {MAX_MEMBER_BYTES} limit")
    handle = tar.extractfile(member)
    data = handle.read() if handle is not None else b""
    if len(data) != member.size:
        raise PackageRefused(f"{archive.name} is truncated inside {name}")
    return data


def _verify_signature(signed: bytes, signature: bytes | None, keys: dict[str, Any], archive: Path) -> str:
    from cryptography.exceptions import InvalidSignature

    if signature is None:
        raise PackageRefused(f"{archive.name} is unsigned (no {SIGNATURE}): refused")
    for name, key in keys.items():
        try:
            key.verify(signature, signed)
            return name
        except InvalidSignature:
            continue
    raise PackageRefused(f"{archive.name}: the signature matches none of the {len(keys)} trusted key(s): refused")


def _manifest(signed: bytes, archive: Path) -> dict[str, Any]:
    try:
        manifest = json.loads(signed)
    except ValueError as error:
        raise PackageRefused(f"{archive.name}: {SIGNED} is not JSON") from error
    if manifest.get("format") != PACKAGE_FORMAT or not isinstance(manifest.get("files"), dict):
        raise PackageRefused(f"{archive.name}: package format {manifest.get('format')!r}, this runtime reads {PACKAGE_FORMAT}")
    name = str(manifest.get("name", ""))
    if not name or "/" in name or name.startswith(".") or name in ("current", "previous"):
        raise PackageRefused(f"{archive.name}: bad bundle name {name!r}")
    _check_product_name(manifest.get("product", ""), f"{archive.name}: the product")
    return manifest


def _check_product_name(product: Any, what: str) -> None:
    if not isinstance(product, str) or (product and not PRODUCT_NAME.fullmatch(product)):
        raise PackageRefused(f"{what} {product!r} is not a product line's name (letters, digits, '.', '_', '-')")


def _check_files(manifest: dict[str, Any], folder: Path, archive: Path) -> None:
    listed = manifest["files"]
    present = {path.name for path in folder.iterdir()}
    if present != set(listed):
        extra, missing = sorted(present - set(listed)), sorted(set(listed) - present)
        raise PackageRefused(f"{archive.name} was tampered with: files {extra or missing} "
                             f"{'are not signed' if extra else 'are missing'}")
    for name, expected in listed.items():
        data = (folder / name).read_bytes()
        if len(data) != expected.get("bytes") or hashlib.sha256(data).hexdigest() != expected.get("sha256"):
            raise PackageRefused(f"{archive.name} was tampered with: {name} does not match its signed sha256")


# --- what a speaker serves (edge doctor, /metrics) ------------------------------------------


def installed_version(bundle_dir: Path) -> BundleVersion:
    """The version of the bundle at `bundle_dir` (links resolved): from the SIGNED.json kept beside an
    installed package, else the folder's name and bundle.json's `created`."""
    folder = bundle_dir.resolve()
    record = folder / SIGNED
    model_sha256 = ""
    if record.is_file():
        signed = record.read_bytes()
        try:
            manifest = json.loads(signed)
            name = str(manifest["name"])
            model_sha256 = str(manifest["files"]["model.onnx"]["sha256"])
            return BundleVersion(package_version(name, hashlib.sha256(signed).hexdigest()),
                                 str(manifest.get("product") or ""), model_sha256, str(manifest.get("created") or ""), True)
        except (ValueError, KeyError, TypeError):
            pass  # not a record this runtime wrote: describe the folder instead
    model = folder / "model.onnx"
    if model.is_file():
        digest = hashlib.sha256()
        with model.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        model_sha256 = digest.hexdigest()
    try:
        created = str(json.loads((folder / "bundle.json").read_text(encoding="utf-8")).get("created") or "")
    except (OSError, ValueError, AttributeError):
        created = ""
    return BundleVersion(folder.name, "", model_sha256, created, False)


def package_manifest(archive: Path) -> tuple[bytes, dict[str, Any]]:
    """SIGNED.json of a package (bytes and parsed), read without verifying it: for the publisher, who
    names it in a product line's index. PackageRefused when the archive holds none."""
    import zstandard

    try:
        with archive.open("rb") as raw, zstandard.ZstdDecompressor().stream_reader(raw) as stream, \
                tarfile.open(fileobj=stream, mode="r|") as tar:
            for member in tar:
                if member.name == SIGNED:
                    signed = _read_member(tar, member, archive)
                    return signed, _manifest(signed, archive)
    except (OSError, EOFError, tarfile.TarError, zstandard.ZstdError) as error:
        raise PackageRefused(f"{archive.name} is truncated or not a .tar.zst bundle ({error})") from error
    raise PackageRefused(f"{archive.name} has no {SIGNED}: not a signed bundle")
