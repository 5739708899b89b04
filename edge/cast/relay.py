"""The speaker's relay for Chromecasts: a companion without mDNS whose page a Chromecast opens.

Started on the first cast to a (confirmed) Chromecast, on `cast.relay_port` (0: a free port) of
`cast.interface` (empty: every interface, so the Chromecast can reach it). The Chromecast is
asked to open the page once; a later card only reopens it if the page is no longer connected.
The page's link carries a secret made when the relay starts (`#key=...`): the relay's socket
is readable from the whole LAN, and without the secret a page gets no card. The relay takes no
pairing and no speakers: the speaker hands it cards in-process.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
from typing import Any

from edge.cast.chromecast import ChromecastError, open_page, relay_page_url
from edge.cast.client import ScreenGone
from edge.cast.discovery import ScreenRegistry
from edge.cast.screens import Screen
from edge.core.events import Card
from edge.core.settings import CastSettings

logger = logging.getLogger(__name__)

VIEWER_POLL_SECONDS = 0.05


class ChromecastRelay:
    def __init__(self, settings: CastSettings, registry: ScreenRegistry):
        self.settings = settings
        self.registry = registry
        self.companion = None
        self._showing: dict[str, str] = {}  # screen key -> the URL it was asked to open

    async def deliver(self, screen: Screen, card: Card) -> dict[str, Any]:
        companion = await self._started()
        try:
            url = self.page_url(screen.host)
            if self._showing.get(screen.key) != url or companion.hub.viewers == 0:
                if self.registry.chromecasts is None:
                    raise ChromecastError("Chromecast support is off (cast.browse_chromecast) or pychromecast is missing")
                info = self.registry.chromecasts.cast_info(screen)
                await asyncio.to_thread(open_page, info, self.registry.zeroconf, url)
                self._showing[screen.key] = url
                await self._wait_for_page(companion, screen)
        except ChromecastError as error:
            self._showing.pop(screen.key, None)
            raise ScreenGone(str(error)) from error
        return await companion.show(card)

    def page_url(self, cast_host: str) -> str:
        """What the Chromecast at `cast_host` is asked to open: the relay page with its secret."""
        if self.companion is None:
            raise ChromecastError("the relay is not started")
        return relay_page_url(cast_host, self.companion.port, self.companion.view_key)

    async def _wait_for_page(self, companion: Any, screen: Screen) -> None:
        deadline = asyncio.get_running_loop().time() + self.settings.deliver_timeout_seconds
        while companion.hub.viewers == 0:
            if asyncio.get_running_loop().time() > deadline:
                raise ChromecastError(f"{screen.name} opened the page but it never connected back to this speaker")
            await asyncio.sleep(VIEWER_POLL_SECONDS)

    async def _started(self) -> Any:
        if self.companion is None:
            from edge.cast.companion import Companion

            relay_settings = dataclasses.replace(
                self.settings, port=self.settings.relay_port, name=f"{self.settings.name or 'speaker'} relay",
                trust_loopback_pages=False,
            )
            companion = Companion(relay_settings, advertise=False, view_key=secrets.token_urlsafe(24), speakers=False)
            await companion.start()
            self.companion = companion
            logger.info("Chromecast relay page at port %d", companion.port)
        return self.companion

    async def stop(self) -> None:
        if self.companion is not None:
            await self.companion.stop()
            self.companion = None
