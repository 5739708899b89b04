"""The speaker's side of casting for `edge run` and `edge ask --cast`: start a CardCaster if it can.

Casting is never a reason for the speaker not to answer. When casting is off (`cast.enabled`),
when the `cast` extra is not installed, or when the caster cannot start (no usable interface, a
port in use), the speaker runs speech-only and says why once, on standard error.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from edge.core.settings import CastSettings

logger = logging.getLogger(__name__)


def start_speaker_caster(settings: CastSettings, wait_seconds: float = 0.0):
    """A started `CardCaster`, or None (speech-only). With `wait_seconds`, first wait that long at
    most for a screen this speaker has paired with (a one-shot turn would otherwise cast before
    discovery has found anything)."""
    if not settings.enabled:
        return None
    try:
        from edge.cast.caster import CardCaster
    except ImportError as error:
        logger.warning("screen casting is off: %s; reinstall the runtime (pip install -e .)", error)
        return None
    try:
        caster = CardCaster(settings).start()
    except Exception as error:  # zeroconf and socket failures vary by platform; none may stop the speaker
        logger.debug("caster start failed", exc_info=True)
        where = f"interface {settings.interface}" if settings.interface else "all interfaces"
        print(
            f"edge: screen casting is off ({where}): {error or type(error).__name__}; replies stay speech-only",
            file=sys.stderr,
        )
        return None
    if wait_seconds > 0:
        caster.wait_for(lambda screens: any(caster.is_paired(screen) for screen in screens), wait_seconds)
    return caster


@contextmanager
def speaker_caster(settings: CastSettings, wait_seconds: float = 0.0) -> Iterator:
    """`start_speaker_caster` for a `with` block; the caster (if any) is closed after it."""
    caster = start_speaker_caster(settings, wait_seconds)
    try:
        yield caster
    finally:
        if caster is not None:
            caster.close()
