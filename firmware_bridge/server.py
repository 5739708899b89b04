"""`edge bridge serve`: the Wyoming server, the satellites it dials, and its zeroconf advertisement."""

from __future__ import annotations

import asyncio
import enum
import logging
import os
import socket
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import urlparse

from edge.core.errors import ConfigError
from edge.core.settings import Settings
from firmware_bridge.access import AccessPolicy, NameClaims, PeerGate
from firmware_bridge.connection import Connection, refuse
from firmware_bridge.discovery import DiscoveryError, ZeroconfAdvertiser
from firmware_bridge.engine import TurnEngine
from firmware_bridge.info import service_info
from firmware_bridge.limits import ConnectionLimiter
from firmware_bridge.satellites import SatelliteHub
from firmware_bridge.wyoming.events import Describe

logger = logging.getLogger(__name__)

# Alerts announced at once: each waits for its satellite to take the audio, and one slow satellite
# must not hold up the others' timers (announced one by one, the soak's fell a minute behind).
ALERT_WORKERS = 4


class BadUriError(ConfigError, ValueError):
    """A Wyoming address is not tcp://HOST:PORT."""


def parse_tcp_uri(uri: str) -> tuple[str, int]:
    parsed = urlparse(uri)
    if parsed.scheme != "tcp" or not parsed.hostname or parsed.port is None:
        raise BadUriError(f"{uri!r} is not a Wyoming address: write tcp://HOST:PORT, e.g. tcp://192.168.1.20:10700")
    return parsed.hostname, parsed.port


class DialState(enum.Enum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    WAITING = "waiting"  # backing off before the next attempt


class WyomingServer:
    """Serves Wyoming on one TCP port; owns the satellite hub and the dialled satellites."""

    def __init__(self, engine: TurnEngine, settings: Settings, environ: Mapping[str, str] | None = None) -> None:
        self.engine = engine
        self.settings = settings
        self.bridge = settings.bridge
        self.policy = AccessPolicy.from_settings(settings.bridge, os.environ if environ is None else environ)
        self.names = NameClaims()
        self.limiter = ConnectionLimiter(settings.bridge.max_connections, settings.bridge.max_connections_per_address)
        self.connections: set[Connection] = set()
        self.hub = SatelliteHub(engine, settings.bridge, settings.audio)
        self.info = service_info(engine.turn.bundle_name, settings.asr.language)
        self.port: int | None = None
        self.dial_states: dict[str, DialState] = {}
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task] = set()
        self._advertiser: ZeroconfAdvertiser | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.alerts = None  # the alert scheduler, started with the server

    async def start(self, uri: str, zeroconf: bool = False, interface: str = "") -> int:
        """Listen on `uri` (port 0 picks a free one); return the port."""
        host, port = parse_tcp_uri(uri)
        self._loop = asyncio.get_running_loop()
        self._server = await asyncio.start_server(self._accept, host, port)
        self.port = self._server.sockets[0].getsockname()[1]
        logger.info("Wyoming server listening on %s:%d", host, self.port)
        if zeroconf:
            name = self.bridge.zeroconf_name or f"edge-{socket.gethostname()}"
            if not interface and host not in ("0.0.0.0", "::", ""):
                interface = host  # bound to one address: advertise that one, not another the service is not on
            advertiser = ZeroconfAdvertiser(name, self.port, interface)
            try:
                await advertiser.start()
                self._advertiser = advertiser
            except (OSError, DiscoveryError) as error:  # serving matters more than being found
                logger.warning("not advertised with zeroconf (%s); add the service by host and port instead", error)
        for satellite_uri in filter(None, (item.strip() for item in self.bridge.satellites.split(","))):
            self.add_satellite(satellite_uri)
        if self.bridge.uart_device:
            self._spawn(self.serve_uart_board(self.bridge.uart_device), f"uart {self.bridge.uart_device}")
        self.alerts = self.engine.turn.alert_scheduler(self._announce_alert, workers=ALERT_WORKERS)
        self.alerts.start()
        return self.port

    def _announce_alert(self, alert) -> bool:
        """On one of the scheduler's workers: hand a due alert to the hub on the server's loop and wait."""
        if self._loop is None or self._loop.is_closed():
            return False
        started = time.monotonic()
        future = asyncio.run_coroutine_threadsafe(self.hub.announce_alert(alert.text, alert.session), self._loop)
        reached = future.result(timeout=self.bridge.write_timeout_seconds + 30)
        late = (datetime.now(UTC) - alert.due).total_seconds()
        logger.info("%s %d announced to %s in %.1f s (%.1f s after it was due)", alert.kind, alert.ref,
                    ", ".join(reached) or "no satellite", time.monotonic() - started, late)
        return bool(reached)

    def add_satellite(self, uri: str) -> asyncio.Task:
        """Dial a satellite that listens (wyoming-satellite) and keep it connected."""
        parse_tcp_uri(uri)
        return self._spawn(self.dial(uri), f"dial {uri}")

    async def serve_forever(self) -> None:
        if self._server is None:
            raise RuntimeError("call start() first")
        await self._server.serve_forever()

    async def close(self) -> None:
        if self.alerts is not None:
            await asyncio.to_thread(self.alerts.stop)
        if self._advertiser is not None:
            await self._advertiser.stop()
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    def _spawn(self, coroutine, name: str) -> asyncio.Task:
        task = asyncio.create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, gate: PeerGate | None = None) -> Connection:
        return Connection(reader, writer, self.engine, self.hub, self.info, self.bridge,
                          self.settings.audio.max_request_seconds, gate=gate, names=self.names)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        peer = writer.get_extra_info("peername")
        address = str(peer[0]) if isinstance(peer, tuple) else str(peer)
        refused = self.limiter.acquire(address)
        if refused is not None:
            logger.warning("refusing a connection from %s: %s", address, refused)
            await refuse(reader, writer, refused, "too-many-connections")
            return
        connection = self._connection(reader, writer, self.policy.gate(address))
        self.connections.add(connection)
        try:
            await connection.run()
        except asyncio.CancelledError:
            # The server is closing. Python 3.11's start_server callback would log a cancelled
            # task as an error, so the connection ends here quietly (run() already closed it).
            return
        finally:
            self.connections.discard(connection)
            self.limiter.release(address)

    async def serve_uart_board(self, device: str) -> None:
        """Serve a board on a serial port as a satellite; reopen the port with backoff if it fails."""
        from firmware_bridge.uart.link import UartLink, UartSettings
        from firmware_bridge.uart.satellite import UartSatellite
        from firmware_bridge.uart.transport import LinkDownError, SerialTransport

        delay = self.bridge.reconnect_min_seconds
        while True:
            opened = None
            try:
                transport = SerialTransport(device, self.bridge.uart_baud_rate)
                opened = asyncio.get_running_loop().time()
                link = UartLink(transport, UartSettings(baud_rate=self.bridge.uart_baud_rate), name="edge")
                board = UartSatellite(link, self.hub, self.bridge.uart_name, self.bridge.uart_room or None)
                await board.run()
            except LinkDownError as error:
                logger.warning("UART board on %s: %s; retrying in %.1f s", device, error, delay)
            except Exception:  # a bug must not end the board's task for good: log it and reopen
                logger.exception("UART board on %s failed; reopening in %.1f s", device, delay)
            if opened is not None and asyncio.get_running_loop().time() - opened > self.bridge.reconnect_max_seconds:
                delay = self.bridge.reconnect_min_seconds  # it served for a while: start the backoff afresh
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.bridge.reconnect_max_seconds)

    async def dial(self, uri: str) -> None:
        """Keep a connection to a satellite that listens (wyoming-satellite), redialling with backoff."""
        host, port = parse_tcp_uri(uri)
        delay = self.bridge.reconnect_min_seconds
        while True:
            self.dial_states[uri] = DialState.CONNECTING
            try:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 10)
            except (OSError, TimeoutError) as error:
                logger.info("satellite %s unreachable (%s); retrying in %.1f s", uri, error, delay)
            else:
                self.dial_states[uri] = DialState.CONNECTED
                delay = self.bridge.reconnect_min_seconds
                await self._connection(reader, writer, PeerGate.trusted()).run(first=[Describe()])
                logger.info("satellite %s closed the connection; redialling", uri)
            self.dial_states[uri] = DialState.WAITING
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.bridge.reconnect_max_seconds)
