"""`edge update`: install a signed intent-model package safely, or go back to the one before.

    outcome = install_package(Path("hwu64-v2.tar.zst"), settings)   # verify, unpack, self-check, swap
    outcome = rollback(settings)                                     # current <-> previous

Bundles live in `update.models_dir` (`/var/lib/edge/models` for the service), each in its own
folder; `current` is a relative symlink to the one in use (the service's `nlu.bundle_dir`) and
`previous` to the one before. An update:

1. verifies the package against the keys in `update.trusted_keys_dir` and unpacks it into a
   hidden folder beside the others (edge/nlu/signed.py); a package signed for another product
   line than `update.product` is refused;
2. self-checks it on this device: it must load, get its own regression sentences right (at least
   the accuracy it had when it was signed, less 2 points, and `update.min_regression_accuracy`),
   and answer within `update.latency_budget_ms` (median per sentence);
3. keeps SIGNED.json in the folder (the speaker's version: edge.nlu.signed.installed_version),
   renames the folder to `NAME-DIGEST8`, points `previous` at the old bundle and swaps `current`
   with one atomic rename of a new link over the old;
4. loads `current` again; if that fails, swaps back (rolled back).

A refused package changes nothing: the hidden folder is removed, the links are untouched.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from edge.core.errors import EdgeError, StorageError
from edge.core.settings import NluSettings, Settings
from edge.nlu.signed import REGRESSION, SIGNED, Package, PackageRefused, open_package, trusted_keys

logger = logging.getLogger(__name__)

CURRENT, PREVIOUS = "current", "previous"
ACCURACY_SLACK = 0.02  # the device may get this much fewer of the sentences right than the signer's machine


class UpdateError(StorageError):
    """The update could not be applied or rolled back; the message says what state the speaker is in."""


class SelfCheckFailed(PackageRefused):
    """A verified bundle that does not work well enough on this device."""


@dataclass(frozen=True)
class Outcome:
    action: str  # installed | rolled back | already installed
    current: str  # the bundle folder `current` points at now
    previous: str | None
    detail: str = ""  # the self-check's numbers

    def line(self) -> str:
        return f"{self.action}: current -> {self.current}" + (f" (previous: {self.previous})" if self.previous else "") + (
            f"; {self.detail}" if self.detail else "")


def install_package(archive: Path, settings: Settings, accept: Callable[[Package], None] | None = None) -> Outcome:
    """`accept(package)`: more checks of the verified package before its self-check (edge.runtime.line's
    version and product line); it raises PackageRefused to refuse it."""
    models = Path(settings.update.models_dir)
    models.mkdir(parents=True, exist_ok=True)
    keys = trusted_keys(Path(settings.update.trusted_keys_dir))
    with exclusive(models):  # the service's poll and `edge update` by hand never swap at once
        return _install(archive, settings, accept, models, keys)


def _install(archive: Path, settings: Settings, accept: Callable[[Package], None] | None, models: Path,
             keys: dict) -> Outcome:
    staging = Path(tempfile.mkdtemp(prefix=".incoming-", dir=models))
    staging.rmdir()  # open_package creates it (and removes it when it refuses)
    package = open_package(archive, keys, staging)
    try:
        target = models / package.version
        check_product(package, settings.update.product, archive)
        if accept is not None:
            accept(package)
        if _link_target(models / CURRENT) == target.name:
            return Outcome("already installed", target.name, _link_target(models / PREVIOUS))
        detail = self_check(package, settings)
        (staging / SIGNED).write_bytes(package.signed)  # the speaker reports its version from it
        if target.exists():
            shutil.rmtree(target)  # an earlier copy of this exact package (not in use)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    old, old_previous = _link_target(models / CURRENT), _link_target(models / PREVIOUS)
    _swap(models, target.name, old)
    try:
        _loads(models / CURRENT, settings)
    except EdgeError as error:
        _swap(models, old, old_previous)
        raise UpdateError(f"{target.name} did not load once in place ({error}); rolled back to {old}") from error
    logger.info("installed %s (signed by %s)", target.name, package.key)
    return Outcome("installed", target.name, old, detail)


def check_product(package: Package, product: str, archive: Path) -> None:
    """A package signed for one product line is refused by a speaker of another (update.product)."""
    if product and package.product and package.product != product:
        raise PackageRefused(f"{archive.name} is for the product line {package.product!r}, this speaker is on "
                             f"{product!r} (update.product): refused")


def rollback(settings: Settings) -> Outcome:
    models = Path(settings.update.models_dir)
    current, previous = _link_target(models / CURRENT), _link_target(models / PREVIOUS)
    if previous is None or not (models / previous).is_dir():
        raise UpdateError(f"nothing to roll back to: {models / PREVIOUS} does not point at a bundle")
    with exclusive(models):
        _swap(models, previous, current)
    return Outcome("rolled back", previous, current)


@contextlib.contextmanager
def exclusive(models: Path) -> Iterator[None]:
    """Hold the models folder's lock (flock on the folder itself: no lock file among the bundles);
    UpdateError when another update holds it."""
    handle = os.open(models, os.O_RDONLY)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as error:
            raise UpdateError(f"another update is running in {models}; try again when it is done") from error
        yield
    finally:
        os.close(handle)  # releases the lock


def self_check(package: Package, settings: Settings) -> str:
    """Load the unpacked bundle and run its own regression sentences; SelfCheckFailed says why not."""
    from edge.nlu.runtime import IntentModel

    sentences = [json.loads(line) for line in (package.bundle_dir / REGRESSION).read_text().splitlines() if line.strip()]
    if not sentences:
        raise SelfCheckFailed(f"{package.name} carries no regression sentences to check itself with")
    try:
        model = IntentModel.load(NluSettings(bundle_dir=str(package.bundle_dir)))
    except EdgeError as error:
        raise SelfCheckFailed(f"{package.name} does not load on this device: {error}") from error
    right, times = 0, []
    for sentence in sentences:
        started = time.perf_counter()
        result = model.predict(sentence["text"])
        times.append((time.perf_counter() - started) * 1000)
        predicted = model.manifest.oos_label if result.out_of_scope else result.intent
        right += predicted == sentence["intent"]
    accuracy, median_ms = right / len(sentences), statistics.median(times)
    needed = max(package.expected_accuracy - ACCURACY_SLACK, settings.update.min_regression_accuracy)
    detail = (f"self-check: {right}/{len(sentences)} regression sentences ({accuracy:.1%}, needed {needed:.1%}), "
              f"median {median_ms:.1f} ms per sentence (budget {settings.update.latency_budget_ms:g} ms)")
    if accuracy < needed:
        raise SelfCheckFailed(f"{package.name} failed its self-check: {detail}")
    if median_ms > settings.update.latency_budget_ms:
        raise SelfCheckFailed(f"{package.name} is too slow on this device: {detail}")
    return detail


def _loads(bundle: Path, settings: Settings) -> None:
    from edge.nlu.runtime import IntentModel

    IntentModel.load(NluSettings(bundle_dir=str(bundle))).predict("what time is it")


def _link_target(link: Path) -> str | None:
    return os.readlink(link) if link.is_symlink() else None


def _swap(models: Path, current: str | None, previous: str | None) -> None:
    """Point `previous` and then `current` at the given folders, each with one atomic rename."""
    try:
        for name, target in ((PREVIOUS, previous), (CURRENT, current)):
            link = models / name
            if target is None:
                if link.is_symlink():
                    link.unlink()
                continue
            fresh = models / f".{name}.{os.getpid()}"
            if fresh.is_symlink() or fresh.exists():
                fresh.unlink()
            fresh.symlink_to(target)  # relative: the folder can be moved or staged
            fresh.replace(link)
    except OSError as error:
        raise UpdateError(f"cannot switch the links in {models}: {error}") from error
