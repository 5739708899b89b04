"""A speaker on a product line: poll `update.source` and install the line's newer signed bundle.

    outcome = check_source(settings)            # `edge update --check`: one poll
    with update_poller(settings, metrics):      # `edge run --listen`, `edge bridge serve`: every update.poll_minutes
        ...

The source is a folder (a mounted share) or an http(s) URL; it holds `PRODUCT/latest.json`
(edge.nlu.line) and the packages it names, as `distill publish` writes them. A check reads the
index of `update.product`; when its version is the bundle `current` points at, nothing is
downloaded ("already installed"). Otherwise the package is downloaded beside the bundles, its size
and sha256 checked against the index, and `install_package` verifies its signature, refuses one
signed for another product line, for another version than the index names, or older than the bundle
in service, self-checks it and swaps it in (edge/runtime/update.py). A refused package, a bad
index or an unreachable source changes nothing: the bundle in service keeps serving.

HTTP: https anywhere; plain http only to a loopback host unless `update.allow_plain_http` (the
signature is checked either way); a redirect is refused, not followed; the index may be 64 KB and
a package `update.max_download_mb`; each request gives up after `update.download_timeout_seconds`.

The runtime has no safe path to swap the intent model under a running turn (it is loaded once
and shared by the turn's threads), so the poll installs the bundle and logs that a restart loads
it; /metrics shows it as `edge_bundle_pending_info` until then.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import logging
import os
import random
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from edge.core.errors import EdgeError, PeerError
from edge.core.settings import Settings, UpdateSettings
from edge.nlu.line import INDEX, MAX_INDEX_BYTES, LineIndex, LineIndexError, parse_index
from edge.nlu.signed import PRODUCT_NAME, BundleVersion, Package, PackageRefused, installed_version
from edge.runtime.update import CURRENT, PREVIOUS, Outcome, install_package

logger = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 16
STOP_WAIT_SECONDS = 5.0  # at shutdown, wait this long for a check under way
JITTER = 0.1  # each wait is up to this share longer, so a line's speakers do not all ask at once


class UpdateSourceError(PeerError):
    """The update source could not be read (unreachable, refused, timed out, redirected, too large)."""


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: N802 (urllib's name)
        raise UpdateSourceError(f"update source {req.full_url} answered HTTP {code}, a redirect to {newurl}: not "
                                "followed; set update.source to the final address")


# --- reading the source ---------------------------------------------------------------------


def line_of(update: UpdateSettings) -> tuple[str, str]:
    """(product, source) of a speaker that follows a line; LineIndexError when it is not set up to."""
    if not update.product or not update.source:
        raise LineIndexError("this speaker follows no product line: set update.product and update.source "
                             "(a folder or an http(s) URL that `distill publish` writes to)")
    if not PRODUCT_NAME.fullmatch(update.product):
        raise LineIndexError(f"update.product {update.product!r} is not a product line's name")
    if "://" in update.source and not _is_url(update.source):
        raise LineIndexError(f"update.source {update.source!r}: a folder or an http(s) URL, nothing else")
    return update.product, update.source


def _address(source: str, product: str, name: str) -> str:
    if _is_url(source):
        return f"{source.rstrip('/')}/{urllib.parse.quote(product)}/{urllib.parse.quote(name)}"
    return str(Path(source).expanduser() / product / name)


def _is_url(source: str) -> bool:
    return urllib.parse.urlparse(source).scheme in ("http", "https")


def _open(address: str, update: UpdateSettings) -> tuple[BinaryIO, int | None]:
    """A readable stream of `address` and its length when known; UpdateSourceError says why not."""
    if not _is_url(address):
        try:
            handle = open(address, "rb")  # noqa: SIM115 (the caller closes it)
        except FileNotFoundError as error:
            raise UpdateSourceError(f"update source: {address} does not exist (nothing published there yet? "
                                    "distill publish PACKAGE --source DIR --product NAME)") from error
        except OSError as error:
            raise UpdateSourceError(f"update source: cannot read {address}: {error.strerror}") from error
        return handle, os.fstat(handle.fileno()).st_size
    url = urllib.parse.urlparse(address)
    loopback = _is_loopback(url.hostname or "")
    if url.scheme == "http" and not loopback and not update.allow_plain_http:
        raise UpdateSourceError(f"update source {address}: plain http to {url.hostname} is refused; use https, or set "
                                "update.allow_plain_http = true on a trusted network (the signature is checked still)")
    handlers: list[urllib.request.BaseHandler] = [_NoRedirects()]
    if loopback:
        handlers.append(urllib.request.ProxyHandler({}))  # never send a loopback address to a proxy
    opener = urllib.request.build_opener(*handlers)
    try:
        answer = opener.open(urllib.request.Request(address, headers={"User-Agent": "edge-update"}),
                             timeout=update.download_timeout_seconds)
    except urllib.error.HTTPError as error:
        error.close()
        raise UpdateSourceError(f"update source {address} answered HTTP {error.code} {error.reason}") from error
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        raise UpdateSourceError(f"update source {address} is unreachable: {reason}") from error
    length = answer.headers.get("Content-Length")
    return answer, int(length) if length and length.isdigit() else None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _read_limited(stream: BinaryIO, address: str, limit: int, out: BinaryIO | None, limit_name: str) -> bytes:
    """Read all of `stream` (into `out` when given, else returned), refusing more than `limit` bytes."""
    kept, total = bytearray(), 0
    try:
        while block := stream.read(CHUNK_BYTES):
            total += len(block)
            if total > limit:
                raise UpdateSourceError(f"update source: {address} is over {limit_name} ({limit} bytes): refused")
            if out is None:
                kept += block
            else:
                out.write(block)
    except (OSError, ValueError) as error:  # a timeout or a reset while reading
        raise UpdateSourceError(f"update source: reading {address} failed: {error}") from error
    return bytes(kept)


def fetch_index(update: UpdateSettings) -> tuple[LineIndex, str]:
    """The line's latest.json and where it was read; UpdateSourceError or LineIndexError say what failed."""
    product, source = line_of(update)
    address = _address(source, product, INDEX)
    stream, length = _open(address, update)
    with stream:
        if length is not None and length > MAX_INDEX_BYTES:
            raise UpdateSourceError(f"update source: {address} is {length} bytes, over the index's {MAX_INDEX_BYTES}")
        raw = _read_limited(stream, address, MAX_INDEX_BYTES, None, "the index's limit")
    index = parse_index(raw, address)
    if index.product != product:
        raise LineIndexError(f"{address}: the index is for the product line {index.product!r}, this speaker is on "
                             f"{product!r} (update.product): refused")
    return index, address


def fetch_package(update: UpdateSettings, index: LineIndex, into: Path) -> None:
    """Download the package the index names into `into`; its size and sha256 must be the index's."""
    address = _address(update.source, index.product, index.package)
    limit = min(index.size_bytes, update.max_download_mb * 1024 * 1024)
    if index.size_bytes > limit:
        raise UpdateSourceError(f"{index.package} is {index.size_bytes} bytes, over update.max_download_mb "
                                f"({update.max_download_mb} MB): refused")
    stream, length = _open(address, update)
    with stream, into.open("wb") as out:
        if length is not None and length != index.size_bytes:
            raise LineIndexError(f"update source: {address} is {length} bytes, its index says {index.size_bytes}: refused")
        _read_limited(stream, address, limit, out, "the size its index gives")
    digest, size = hashlib.sha256(), 0
    with into.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    if size != index.size_bytes or digest.hexdigest() != index.sha256:
        raise LineIndexError(f"update source: {address} does not match its index ({size} bytes, sha256 "
                             f"{digest.hexdigest()[:12]}…; the index says {index.size_bytes}, {index.sha256[:12]}…): refused")


# --- one check ------------------------------------------------------------------------------


def check_source(settings: Settings) -> Outcome:
    """Poll once: install the line's latest bundle when it is not the one in service."""
    update = settings.update
    index, where = fetch_index(update)
    models = Path(update.models_dir)
    current = _link_target(models / CURRENT)
    if current == index.version:
        return Outcome("already installed", current, _link_target(models / PREVIOUS))
    models.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=".download-", suffix=".tar.zst", dir=models)
    os.close(handle)
    download = Path(name)
    try:
        fetch_package(update, index, download)
        return install_package(download, settings, accept=lambda package: _accept(package, index, models, where))
    finally:
        download.unlink(missing_ok=True)


def _accept(package: Package, index: LineIndex, models: Path, where: str) -> None:
    """The verified package is the one the index names, for this line, and not older than the one in service."""
    if package.product != index.product:
        raise PackageRefused(f"{index.package} is signed for the product line {package.product or 'none'!r}, not "
                             f"{index.product!r}: refused")
    if package.version != index.version:
        raise PackageRefused(f"{where} names version {index.version} but {index.package} is {package.version}: refused")
    serving = installed_version(models / CURRENT) if (models / CURRENT).exists() else None
    if serving is not None and serving.signed and _older(package.created, serving.created):
        raise PackageRefused(f"{package.version} was signed {package.created}, before the bundle in service "
                             f"({serving.version}, {serving.created}): refused; re-sign a bundle to roll the line back")


def _older(created: str, than: str) -> bool:
    try:
        return datetime.fromisoformat(created) < datetime.fromisoformat(than)
    except ValueError:
        return False  # a date this runtime cannot read orders nothing


def serving_version(settings: Settings) -> BundleVersion:
    """The version of the bundle nlu.bundle_dir names now (what a process that loads it serves)."""
    from edge.nlu.runtime import bundle_dir_of

    return installed_version(bundle_dir_of(settings.nlu))


def _link_target(link: Path) -> str | None:
    return os.readlink(link) if link.is_symlink() else None


# --- the service's poll ---------------------------------------------------------------------


class UpdatePoller:
    """Checks the line every `update.poll_minutes` on a daemon thread (the first check at once); logs
    each outcome and counts it on /metrics; never raises into the service."""

    def __init__(self, settings: Settings, metrics=None) -> None:
        self.settings = settings
        self.metrics = metrics
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="update-poll", daemon=True)

    def start(self) -> UpdatePoller:
        self._thread.start()
        logger.info("update: following the %r line at %s every %g minute(s)", self.settings.update.product,
                    self.settings.update.source, self.settings.update.poll_minutes)
        return self

    def close(self) -> None:
        """Stop polling; a check under way is left to finish on its daemon thread (each step is atomic)."""
        self._stop.set()
        self._thread.join(timeout=STOP_WAIT_SECONDS)

    def _run(self) -> None:
        seconds = self.settings.update.poll_minutes * 60
        while not self._stop.is_set():
            self.check_once()
            if self._stop.wait(seconds * (1 + random.uniform(0, JITTER))):
                return

    def check_once(self) -> str:
        """One check; the outcome's name (installed, already_installed, refused, failed)."""
        try:
            outcome = check_source(self.settings)
        except PackageRefused as error:
            logger.error("update: refused: %s; the bundle in service keeps serving", error)
            return self._count("refused")
        except (LineIndexError, EdgeError) as error:
            logger.warning("update: %s; the bundle in service keeps serving", error)
            return self._count("refused" if isinstance(error, LineIndexError) else "failed")
        except Exception:  # the poll never takes the speaker down
            logger.exception("update: the check crashed; the bundle in service keeps serving")
            return self._count("failed")
        if outcome.action == "installed":
            logger.warning("update: %s; the running speaker keeps its loaded bundle until it restarts "
                           "(systemctl restart %s)", outcome.line(), self.settings.service.unit_name)
            if self.metrics is not None:
                self.metrics.set_pending_bundle(outcome.current)
            return self._count("installed")
        logger.debug("update: %s", outcome.line())
        return self._count("already_installed")

    def _count(self, outcome: str) -> str:
        if self.metrics is not None:
            self.metrics.count_update_check(outcome)
        return outcome


@contextlib.contextmanager
def update_poller(settings: Settings, metrics=None) -> Iterator[UpdatePoller | None]:
    """The poll for a `with` block; None when update.poll_minutes is 0 or the speaker follows no line."""
    if settings.update.poll_minutes <= 0:
        yield None
        return
    try:
        line_of(settings.update)
    except LineIndexError as error:
        logger.warning("update: the poll is off: %s", error)
        yield None
        return
    poller = UpdatePoller(settings, metrics).start()
    try:
        yield poller
    finally:
        poller.close()
