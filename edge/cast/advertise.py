"""A companion announces itself over mDNS as `_edgecast._tcp.local.` (see edge.cast.protocol).

The instance and host names carry the companion's random id, so they are unique by
construction: the RFC 6762 name probe (three queries, 0.7–1.2 s before the first announcement)
is skipped (zeroconf's `cooperating_responders`) and a new screen is seen within milliseconds.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from typing import Any

from edge.cast.protocol import SERVICE_TYPE, txt_record

logger = logging.getLogger(__name__)

MAX_INSTANCE_BYTES = 40  # an mDNS instance label is at most 63 bytes; 9 more go to the id


def zeroconf_options(interface: str) -> dict[str, Any]:
    """Keyword arguments for `AsyncZeroconf`: one IPv4 interface (its address), or all of them."""
    from zeroconf import InterfaceChoice, IPVersion

    if interface:
        try:
            ipaddress.IPv4Address(interface)
        except ValueError as error:
            raise ValueError(
                f"cast.interface {interface!r} must be the IPv4 address of an interface, e.g. 127.0.0.1 or 192.168.1.20"
            ) from error
        return {"interfaces": [interface], "ip_version": IPVersion.V4Only}
    return {"interfaces": InterfaceChoice.All, "ip_version": IPVersion.V4Only}


def advertised_addresses(interface: str) -> list[str]:
    """The IPv4 addresses to put in the service record: the chosen one, or every non-loopback one."""
    if interface:
        return [interface]
    import ifaddr  # a dependency of zeroconf

    found = [
        ip.ip for adapter in ifaddr.get_adapters() for ip in adapter.ips
        if isinstance(ip.ip, str) and not ipaddress.IPv4Address(ip.ip).is_loopback
    ]
    return found or ["127.0.0.1"]


class Advertiser:
    """Registers one companion on start and sends goodbye packets on stop."""

    def __init__(self, interface: str, name: str, room: str, resolution: str, companion_id: str, port: int):
        self.interface = interface
        self.port = port
        self.txt = txt_record(name, room, resolution, companion_id)
        label = name.replace(".", " ").encode("utf-8")[:MAX_INSTANCE_BYTES].decode("utf-8", "ignore")
        instance = label.strip() or "edge companion"
        self.service_name = f"{instance} {companion_id[:8]}.{SERVICE_TYPE}"
        self.host_name = f"edge-companion-{companion_id[:8]}.local."
        self._zeroconf = None
        self._info = None

    async def start(self) -> None:
        try:
            from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf
        except ImportError as error:
            raise ImportError("advertising a companion needs zeroconf (a runtime dependency): pip install -e .") from error
        self._zeroconf = AsyncZeroconf(**zeroconf_options(self.interface))
        self._info = AsyncServiceInfo(
            SERVICE_TYPE, self.service_name, port=self.port, properties=self.txt, server=self.host_name,
            addresses=[socket.inet_aton(address) for address in advertised_addresses(self.interface)],
        )
        announced = await self._zeroconf.async_register_service(self._info, cooperating_responders=True)
        await announced
        self.service_name = self._info.name
        logger.info("advertised %s on port %d", self.service_name, self.port)

    async def stop(self) -> None:
        if self._zeroconf is None:
            return
        try:
            if self._info is not None:
                goodbye = await self._zeroconf.async_unregister_service(self._info)
                await goodbye
        finally:
            await self._zeroconf.async_close()
            self._zeroconf = None
