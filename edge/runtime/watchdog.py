"""Feeding systemd's watchdog from the loops that do the work, so a hung speaker is restarted.

    source = WatchedSource(MicrophoneSource(settings.live), notifier.pinger())   # the live loop
    task = asyncio.create_task(feed_from_event_loop(notifier))                  # edge bridge serve

The live loop pulls a frame every 80 ms except while it answers a request, so pinging per frame
stops the pings when the loop hangs (a turn longer than the unit's WatchdogSec is a hang). The
bridge's event loop pings from a task: a blocked event loop stops them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import numpy as np

from edge.audio.stream import FrameSource
from edge.core.notify import Notifier


class WatchedSource(FrameSource):
    """`source`'s frames, calling `ping` as each one is handed to the loop."""

    def __init__(self, source: FrameSource, ping: Callable[[], None]) -> None:
        self.source = source
        self.ping = ping
        self.sample_rate = source.sample_rate

    def frames(self) -> Iterator[np.ndarray]:
        for frame in self.source.frames():
            self.ping()
            yield frame

    def close(self) -> None:
        self.source.close()


async def feed_from_event_loop(notifier: Notifier) -> None:
    """Send WATCHDOG=1 every third of the interval until cancelled (returns at once without a watchdog)."""
    if notifier.watchdog_seconds is None or not notifier.enabled:
        return
    while True:
        notifier.watchdog()
        await asyncio.sleep(notifier.watchdog_seconds / 3)
