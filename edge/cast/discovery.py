"""The speaker's live list of screens: companions over mDNS, Chromecasts through pychromecast.

`ScreenRegistry` browses `_edgecast._tcp.local.` (and `_googlecast._tcp.local.` when
`cast.browse_chromecast` is on) on `cast.interface`, resolves each service's TXT record into a
`Screen`, and drops it on an mDNS goodbye. mDNS alone would keep a crashed companion for its
record's TTL (minutes), so every `cast.probe_interval_seconds` each companion's `/api/health` is
fetched: a screen that does not answer is UNREACHABLE (not offered) until it answers again or
mDNS removes it. All methods run on the registry's event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from edge.cast.advertise import zeroconf_options
from edge.cast.protocol import PROTOCOL_VERSION, SERVICE_TYPE, read_json
from edge.cast.screens import EDGECAST_KIND, Screen, ScreenState
from edge.core.settings import CastSettings

logger = logging.getLogger(__name__)

RESOLVE_TIMEOUT_MS = 3000
PROBE_TIMEOUT_SECONDS = 1.0
HEALTH_BYTES = 4096  # a health answer is ~150 bytes; whatever answers there may be anything


def screen_from_service(info: Any) -> Screen | None:
    """A Screen for a resolved `_edgecast._tcp` AsyncServiceInfo, or None if it is unusable."""
    txt = {_text(key): _text(value) for key, value in (info.properties or {}).items()}
    addresses = info.parsed_addresses()
    if not addresses or not info.port or not txt.get("id"):
        logger.info("ignoring %s: no address, port or id in its record", info.name)
        return None
    try:
        protocol = int(txt.get("proto", "0"))
    except ValueError:
        protocol = 0
    if protocol != PROTOCOL_VERSION:
        logger.warning("ignoring %s: it speaks protocol %s, this speaker %d", info.name, txt.get("proto"), PROTOCOL_VERSION)
        return None
    name = txt.get("name") or info.name.removesuffix("." + SERVICE_TYPE)
    return Screen(
        key=info.name, name=name, room=txt.get("room", ""), kind=EDGECAST_KIND, host=addresses[0],
        port=int(info.port), screen_id=txt["id"], resolution=txt.get("res", ""), protocol=protocol,
    )


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class ScreenRegistry:
    def __init__(self, settings: CastSettings):
        self.settings = settings
        self._screens: dict[str, Screen] = {}
        self._changed = asyncio.Condition()
        self._zeroconf = None
        self._browser = None
        self._chromecasts = None
        self._session = None
        self._probe_task: asyncio.Task | None = None
        self.listeners: list[Callable[[str, Screen | None], None]] = []

    @property
    def zeroconf(self) -> Any:
        return self._zeroconf.zeroconf if self._zeroconf else None

    @property
    def chromecasts(self) -> Any:
        return self._chromecasts

    async def start(self) -> None:
        try:
            import aiohttp
            from zeroconf import DNSQuestionType
            from zeroconf.asyncio import AsyncServiceBrowser, AsyncZeroconf
        except ImportError as error:
            raise ImportError("finding screens needs zeroconf and aiohttp (runtime dependencies): pip install -e .") from error
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=PROBE_TIMEOUT_SECONDS))
        self._zeroconf = AsyncZeroconf(**zeroconf_options(self.settings.interface))
        # QM: ask for multicast answers. A unicast answer to port 5353 reaches only one of the sockets
        # sharing it (SO_REUSEPORT), so with two mDNS stacks on one host it is often lost (1 s later).
        self._browser = AsyncServiceBrowser(
            self._zeroconf.zeroconf, [SERVICE_TYPE], handlers=[self._on_service], question_type=DNSQuestionType.QM,
        )
        if self.settings.browse_chromecast:
            from edge.cast.chromecast import ChromecastBrowser

            try:
                self._chromecasts = ChromecastBrowser(self.zeroconf, asyncio.get_running_loop(), self._set)
                self._chromecasts.start()
            except ImportError as error:
                logger.info("%s; Chromecasts are not listed (companions are)", error)  # an optional extra: no warning
                self._chromecasts = None
        self._probe_task = asyncio.create_task(self._probe_forever())

    async def stop(self) -> None:
        if self._probe_task is not None:
            self._probe_task.cancel()
        if self._chromecasts is not None:
            await asyncio.to_thread(self._chromecasts.stop)
        if self._browser is not None:
            await self._browser.async_cancel()
        if self._zeroconf is not None:
            await self._zeroconf.async_close()
        if self._session is not None:
            await self._session.close()

    def screens(self) -> list[Screen]:
        """The screens that can be cast to now."""
        return [screen for screen in self._screens.values() if screen.state is ScreenState.ONLINE]

    def all_screens(self) -> list[Screen]:
        return list(self._screens.values())

    async def wait_for(self, predicate: Callable[[list[Screen]], bool], timeout: float) -> bool:
        """Wait until `predicate(self.screens())` holds; False after `timeout` seconds."""
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(lambda: predicate(self.screens())), timeout)
                return True
            except TimeoutError:
                return False

    def _on_service(self, zeroconf: Any, service_type: str, name: str, state_change: Any) -> None:
        from zeroconf import ServiceStateChange

        if state_change is ServiceStateChange.Removed:
            self._set(name, None)
        else:
            asyncio.ensure_future(self._resolve(name))

    async def _resolve(self, name: str) -> None:
        from zeroconf.asyncio import AsyncServiceInfo

        info = AsyncServiceInfo(SERVICE_TYPE, name)
        if not await info.async_request(self._zeroconf.zeroconf, RESOLVE_TIMEOUT_MS):
            logger.info("could not resolve %s", name)
            return
        screen = screen_from_service(info)
        if screen is not None:
            self._set(name, screen)

    def _set(self, key: str, screen: Screen | None) -> None:
        old = self._screens.pop(key, None)
        if screen is not None:
            self._screens[key] = screen
        if (old is None) != (screen is None):
            logger.info("screen %s %s", (screen or old).name, "appeared" if screen else "went away")
        for listener in self.listeners:
            listener(key, screen)
        asyncio.ensure_future(self._notify())

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _probe_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.probe_interval_seconds)
            companions = [screen for screen in self._screens.values() if screen.kind == EDGECAST_KIND]
            states = await asyncio.gather(*(self._probe(screen) for screen in companions))
            for screen, state in zip(companions, states, strict=True):
                current = self._screens.get(screen.key)
                if current is not None and current.state is not state:
                    logger.info("screen %s is %s", screen.name, state.value)
                    self._set(screen.key, replace(current, state=state))

    async def _probe(self, screen: Screen) -> ScreenState:
        import aiohttp

        try:
            async with self._session.get(f"{screen.base_url}/api/health") as response:
                health = await read_json(response, HEALTH_BYTES)
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return ScreenState.UNREACHABLE
        if not isinstance(health, dict) or health.get("id") != screen.screen_id:
            return ScreenState.UNREACHABLE  # something else now answers on that port
        return ScreenState.ONLINE

    async def mark_unreachable(self, screen: Screen) -> None:
        """A delivery found the screen gone: stop offering it until a probe says otherwise."""
        current = self._screens.get(screen.key)
        if current is not None and current.state is ScreenState.ONLINE:
            self._set(screen.key, replace(current, state=ScreenState.UNREACHABLE))
