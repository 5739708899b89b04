"""Zeroconf advertisement of the Wyoming service (`_wyoming._tcp.local.`), as Home Assistant browses for it."""

from __future__ import annotations

import logging
import socket

from edge.core.errors import PeerError

logger = logging.getLogger(__name__)

SERVICE_TYPE = "_wyoming._tcp.local."


class DiscoveryError(PeerError):
    """The service could not be advertised (zeroconf missing, or a bad interface address)."""


def local_address() -> str:
    """The address other machines reach us on (the one the default route uses), else loopback."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("224.0.0.251", 5353))  # no packet is sent: this only picks a route
        return probe.getsockname()[0]
    except OSError:
        return "127.0.0.1"
    finally:
        probe.close()


class ZeroconfAdvertiser:
    """Registers one service instance; `interface` limits mDNS to that address (tests use 127.0.0.1)."""

    def __init__(self, name: str, port: int, interface: str = "") -> None:
        self.name = name
        self.port = port
        self.interface = interface
        self._zeroconf = None
        self._info = None

    async def start(self) -> None:
        try:
            from zeroconf import InterfaceChoice
            from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf
        except ImportError as error:
            raise DiscoveryError(
                "zeroconf is not installed: pip install 'edge-voice[bridge]' (or run with --no-zeroconf)"
            ) from error
        address = self.interface or local_address()
        try:
            packed = socket.inet_aton(address)
        except OSError as error:
            raise DiscoveryError(f"--interface {address!r} is not an IPv4 address") from error
        interfaces = [address] if self.interface else InterfaceChoice.All
        self._zeroconf = AsyncZeroconf(interfaces=interfaces)
        self._info = AsyncServiceInfo(
            SERVICE_TYPE, f"{self.name}.{SERVICE_TYPE}", addresses=[packed], port=self.port,
            properties={"implementation": "edge-voice"}, server=f"{self.name}.local.",
        )
        await self._zeroconf.async_register_service(self._info)
        logger.info("advertised %s.%s at %s:%d", self.name, SERVICE_TYPE, address, self.port)

    async def stop(self) -> None:
        if self._zeroconf is not None:
            if self._info is not None:
                await self._zeroconf.async_unregister_service(self._info)
            await self._zeroconf.async_close()
            self._zeroconf = None
