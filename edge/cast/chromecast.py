"""Chromecasts as screens: found on `_googlecast._tcp.local.`, shown the companion page via DashCast.

A Chromecast cannot run the companion itself, so the speaker runs a relay: a `Companion` in its
own process (no mDNS advertisement, no pairing needed: the speaker is the only sender) and asks
the Chromecast, through pychromecast's DashCast controller, to open that relay's page. Cards
then go to the relay and the Chromecast's page shows them like any browser tab.

Only devices with a screen are listed: speakers (`cast_type == "audio"`, e.g. Nest Mini) and
speaker groups are left out.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import Any

from edge.cast.screens import Screen
from edge.core.errors import PeerError

logger = logging.getLogger(__name__)

CHROMECAST_KIND = "chromecast"
SCREENLESS_CAST_TYPES = frozenset({"audio", "group"})
CONNECT_TIMEOUT_SECONDS = 5.0


class ChromecastError(PeerError):
    """A Chromecast could not be reached or would not open the page."""


def screen_from_cast_info(info: Any) -> Screen | None:
    """A Screen for a pychromecast CastInfo, or None for devices without a screen."""
    if info.cast_type in SCREENLESS_CAST_TYPES or not info.host or not info.port:
        return None
    name = info.friendly_name or info.model_name or str(info.uuid)
    return Screen(
        key=f"chromecast:{info.uuid}", name=name, room=room_from_name(name), kind=CHROMECAST_KIND,
        host=str(info.host), port=int(info.port), screen_id=str(info.uuid), model=info.model_name or "",
    )


def room_from_name(name: str) -> str:
    """Chromecasts have no room record; people name them "Kitchen TV": the words before the device word."""
    words = name.split()
    devices = {"tv", "display", "screen", "chromecast", "projector", "hub", "monitor"}
    while words and words[-1].lower() in devices:
        words.pop()
    return " ".join(words).lower() if len(words) < len(name.split()) else ""


def local_address_for(host: str) -> str:
    """This machine's IPv4 address on the route to `host` (a UDP connect sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect((host, 9))
        except OSError as error:
            raise ChromecastError(f"no route to the Chromecast at {host}: {error.strerror}") from error
        return probe.getsockname()[0]


def relay_page_url(cast_host: str, relay_port: int, key: str = "") -> str:
    """The URL the Chromecast opens: the speaker's relay companion, on the address it can reach, with
    the relay's secret (edge.cast.pages)."""
    return f"http://{local_address_for(cast_host)}:{relay_port}/" + (f"#key={key}" if key else "")


class ChromecastBrowser:
    """pychromecast's browser on the registry's zeroconf; calls `on_change(key, screen|None)` on `loop`."""

    def __init__(self, zeroconf: Any, loop: asyncio.AbstractEventLoop, on_change: Callable[[str, Screen | None], None]):
        self._zeroconf = zeroconf
        self._loop = loop
        self._on_change = on_change
        self._browser = None

    def start(self) -> None:
        try:
            from pychromecast.discovery import CastBrowser, SimpleCastListener
        except ImportError as error:
            raise ImportError("Chromecast screens need pychromecast: pip install -e '.[cast]'") from error
        self._browser = CastBrowser(
            SimpleCastListener(add_callback=self._changed, update_callback=self._changed, remove_callback=self._removed),
            self._zeroconf,
        )
        self._browser.start_discovery()

    def cast_info(self, screen: Screen) -> Any:
        for info in (self._browser.devices if self._browser else {}).values():
            if str(info.uuid) == screen.screen_id:
                return info
        raise ChromecastError(f"the Chromecast {screen.name!r} is no longer on the network")

    def _changed(self, uuid: Any, _service: str) -> None:
        info = self._browser.devices.get(uuid) if self._browser else None
        if info is not None:
            self._loop.call_soon_threadsafe(self._on_change, f"chromecast:{uuid}", screen_from_cast_info(info))

    def _removed(self, uuid: Any, _service: str, _info: Any) -> None:
        self._loop.call_soon_threadsafe(self._on_change, f"chromecast:{uuid}", None)

    def stop(self) -> None:
        if self._browser is not None:
            self._browser.stop_discovery()
            self._browser = None


def open_page(cast_info: Any, zeroconf: Any, url: str) -> None:
    """Blocking: connect to the Chromecast and have DashCast show `url` (run it in a thread)."""
    import threading

    import pychromecast
    from pychromecast.controllers.dashcast import DashCastController

    loaded = threading.Event()
    outcome: list[bool] = []

    def on_loaded(success: bool, _response: Any = None) -> None:
        outcome.append(success)
        loaded.set()

    try:  # a quick reachability check: pychromecast would wait out its whole timeout on a refused port
        socket.create_connection((cast_info.host, cast_info.port), timeout=CONNECT_TIMEOUT_SECONDS).close()
    except OSError as error:
        raise ChromecastError(f"the Chromecast {cast_info.friendly_name!r} at {cast_info.host}:{cast_info.port} "
                              f"is not reachable: {error}") from error
    device = None
    try:
        device = pychromecast.get_chromecast_from_cast_info(cast_info, zeroconf, tries=1, timeout=CONNECT_TIMEOUT_SECONDS)
        device.wait(timeout=CONNECT_TIMEOUT_SECONDS)
        dashcast = DashCastController()
        device.register_handler(dashcast)
        dashcast.load_url(url, force=True, callback_function=on_loaded)
        if not loaded.wait(CONNECT_TIMEOUT_SECONDS) or not outcome[0]:
            raise ChromecastError(f"the Chromecast {cast_info.friendly_name!r} did not open {url} with DashCast")
    except pychromecast.error.PyChromecastError as error:
        raise ChromecastError(f"the Chromecast {cast_info.friendly_name!r} would not open {url}: {error}") from error
    finally:
        if device is not None:
            device.disconnect(timeout=1.0)
