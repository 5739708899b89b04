"""What the speaker knows about one screen: where it is, what it is, whether it answers.

A `Screen` comes from an mDNS record (`_edgecast._tcp` companions, edge/cast/discovery.py) or a
Chromecast (edge/cast/chromecast.py); both modules build Screens, so the type lives here.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from edge.cast.protocol import PROTOCOL_VERSION

EDGECAST_KIND = "edgecast"


class ScreenState(enum.Enum):
    ONLINE = "online"
    UNREACHABLE = "unreachable"  # in mDNS, but its companion did not answer the last probe


@dataclass(frozen=True)
class Screen:
    key: str  # the mDNS service name, or "chromecast:<uuid>"
    name: str
    room: str
    kind: str  # "edgecast" | "chromecast"
    host: str
    port: int
    screen_id: str  # the companion's id (pairing tokens are kept per id), or the Chromecast's uuid
    resolution: str = ""
    protocol: int = PROTOCOL_VERSION
    model: str = ""
    state: ScreenState = ScreenState.ONLINE

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"
