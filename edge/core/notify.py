"""systemd's notify protocol over a plain AF_UNIX datagram socket (no libsystemd, no dependency).

    notifier = Notifier.from_environment()        # does nothing outside a Type=notify service
    notifier.ready("listening for the wake word 'alexa'")
    ping = notifier.pinger()                      # call it often; it sends WATCHDOG=1 every interval / 3
    notifier.stopping()

systemd passes the socket in `$NOTIFY_SOCKET` (a path, or an abstract name starting with `@`) and
the watchdog interval in `$WATCHDOG_USEC` (for `$WATCHDOG_PID`, when set, only). Each message is
one datagram of `KEY=VALUE` lines: `READY=1`, `STATUS=…`, `WATCHDOG=1`, `STOPPING=1`. A message
that cannot be sent (no listener, or its queue is full: the socket never blocks) is logged once and
dropped: a speaker never stops because its supervisor is gone or slow.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping

logger = logging.getLogger(__name__)


class Notifier:
    """Sends sd_notify messages to `address` (None: a no-op outside systemd)."""

    def __init__(self, address: str | None, watchdog_seconds: float | None = None) -> None:
        self.address = address
        self.watchdog_seconds = watchdog_seconds  # systemd's WatchdogSec, or None when no watchdog is asked for
        self._socket: socket.socket | None = None
        self._lock = threading.Lock()
        self._warned = False

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Notifier:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET") or None
        watchdog = None
        usec, pid = env.get("WATCHDOG_USEC", ""), env.get("WATCHDOG_PID", "")
        if usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid())):
            watchdog = int(usec) / 1_000_000
        return cls(address, watchdog)

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, *fields: str) -> bool:
        """One datagram of `fields` (e.g. "READY=1", "STATUS=…"); False when it could not be sent."""
        if self.address is None:
            return False
        target = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        message = "\n".join(field.replace("\n", " ") for field in fields).encode("utf-8")
        try:
            with self._lock:
                if self._socket is None:
                    self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                    self._socket.setblocking(False)  # a supervisor that stops reading must not stop the speaker
                self._socket.sendto(message, target)
            return True
        except OSError as error:
            if not self._warned:
                self._warned = True
                logger.warning("cannot notify systemd at %s: %s", self.address, error)
            return False

    def ready(self, status: str = "") -> bool:
        return self.send("READY=1", *([f"STATUS={status}"] if status else []))

    def status(self, text: str) -> bool:
        return self.send(f"STATUS={text}")

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    def stopping(self, status: str = "") -> bool:
        return self.send("STOPPING=1", *([f"STATUS={status}"] if status else []))

    def pinger(self, clock: Callable[[], float] = time.monotonic) -> Callable[[], None]:
        """A function to call from the main loop: sends WATCHDOG=1 at most every third of the interval
        (nothing when systemd asked for no watchdog), so pings stop when the loop stops."""
        if self.watchdog_seconds is None or self.address is None:
            return lambda: None
        every = self.watchdog_seconds / 3
        last = [float("-inf")]

        def ping() -> None:
            now = clock()
            if now - last[0] >= every:
                last[0] = now
                self.watchdog()

        return ping

    def close(self) -> None:
        with self._lock:
            if self._socket is not None:
                self._socket.close()
                self._socket = None
