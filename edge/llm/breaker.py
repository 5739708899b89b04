"""A circuit breaker for a network peer: stop asking a server that keeps failing, try again later."""

from __future__ import annotations

import threading
import time


class CircuitBreaker:
    """Opens after `failures` failed requests in a row; lets one trial through after `reset_seconds`."""

    def __init__(self, failures: int, reset_seconds: float, clock=time.monotonic) -> None:
        self._threshold = max(1, failures)
        self._reset_seconds = reset_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_running = False

    @property
    def state(self) -> str:
        with self._lock:
            return self._state()

    def _state(self) -> str:
        if self._opened_at is None:
            return "closed"
        return "half-open" if self._clock() - self._opened_at >= self._reset_seconds else "open"

    def allow(self) -> bool:
        with self._lock:
            state = self._state()
            if state == "closed":
                return True
            if state == "half-open" and not self._trial_running:
                self._trial_running = True
                return True
            return False

    def record_success(self) -> None:
        with self._lock:
            self._failures, self._opened_at, self._trial_running = 0, None, False

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            self._trial_running = False
            if self._failures >= self._threshold:
                self._opened_at = self._clock()
