"""Pairing attempts, counted for the whole companion: a run of wrong codes pauses pairing for everyone.

    throttle = PairingThrottle(max_failures=5, cooldown_seconds=60.0)
    wait = throttle.paused_for()      # > 0: refuse (HTTP 429, Retry-After) without looking at the code
    throttle.failed() / throttle.succeeded()

Counting per client would not help: the LAN has as many addresses as an attacker wants. So after
`max_failures` wrong codes in a row (from anyone) every attempt is refused for `cooldown_seconds`,
doubling with each further run up to `MAX_COOLDOWN_SECONDS`; a right code resets it. With the
defaults an attacker checks 5 codes a minute at first and fewer after: a million codes are out of
reach. The cost is that an attacker can keep pairing paused; pairing is rare and the screen says so.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)

MAX_COOLDOWN_SECONDS = 3600.0


class PairingThrottle:
    def __init__(self, max_failures: int, cooldown_seconds: float, clock: Callable[[], float] = time.monotonic):
        if max_failures < 1 or cooldown_seconds < 0:
            raise ValueError("cast.pairing_max_failures must be at least 1 and cast.pairing_cooldown_seconds not negative")
        self.max_failures = max_failures
        self.cooldown_seconds = cooldown_seconds
        self._clock = clock
        self._failures = 0
        self._strikes = 0  # pauses since the last right code
        self._until = 0.0

    def paused_for(self) -> float:
        """Seconds until pairing accepts codes again (0: now)."""
        return max(0.0, self._until - self._clock())

    def failed(self) -> None:
        self._failures += 1
        if self._failures >= self.max_failures:
            pause = min(self.cooldown_seconds * 2 ** min(self._strikes, 16), MAX_COOLDOWN_SECONDS)
            self._until = self._clock() + pause
            self._strikes += 1
            self._failures = 0
            logger.warning("%d wrong pairing codes in a row: pairing paused for %.0f s", self.max_failures, pause)

    def succeeded(self) -> None:
        self._failures = self._strikes = 0
        self._until = 0.0
