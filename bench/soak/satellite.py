"""A soak satellite: one Wyoming connection that proves its key, asks its script round and round,
hears alerts between (and during) its turns, and reconnects whenever the runtime goes away.

    satellite = SoakSatellite("sat-3", key, port, script, record, load_until, leave)
    await satellite.run()      # asks until `load_until` (monotonic), then only listens until `leave` is set

Events are read by one task per connection: an alert (a `synthesize` whose words are an alert's,
outside a reply) is recorded as a ring with the time it arrived and its audio skipped; everything
else goes to the turn that waits for its reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time

from bench.soak.record import Record, Ring, TurnOutcome
from bench.soak.requests import ALERT, WRITES, Clip
from firmware_bridge.client import WyomingClient
from firmware_bridge.simulator import SatelliteTurnError, hello, stream_request
from firmware_bridge.wyoming.events import AudioChunk, AudioStop, Error, Synthesize, Transcript

logger = logging.getLogger(__name__)

REPLY_SECONDS = 180.0  # a hung LLM holds the one inference worker for its whole budget, turn after turn
RECONNECT_SECONDS = (0.2, 5.0)  # redial backoff, doubling (as real satellites do): first and longest wait
_LOST = object()  # the reader's mark: the connection ended


class ConnectionLostError(ConnectionError):
    """The runtime went away (killed, or closed the connection)."""


class SoakSatellite:
    def __init__(self, name: str, key: bytes, port: int, script: list[Clip], record: Record, load_until: float,
                 leave: asyncio.Event, pause_seconds: tuple[float, float] = (1.0, 4.0), seed: int = 0) -> None:
        self.name = name
        self.key = key
        self.port = port
        self.script = script
        self.record = record
        self.load_until = load_until
        self.leave = leave
        self.pause_seconds = pause_seconds
        self.connections = 0
        self._random = random.Random(seed)
        self._next = 0

    async def run(self) -> None:
        while not self.leave.is_set():
            client = await self._connect()
            if client is None:
                return
            events: asyncio.Queue = asyncio.Queue()
            reader = asyncio.create_task(self._read(client, events), name=f"{self.name} reader")
            try:
                await self._serve(client, events)
            except (ConnectionLostError, OSError):
                logger.info("%s lost its connection; reconnecting", self.name)
            finally:
                reader.cancel()
                client.abort()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader

    async def _serve(self, client: WyomingClient, events: asyncio.Queue) -> None:
        while not self.leave.is_set():
            if time.monotonic() >= self.load_until:
                leaving = asyncio.create_task(self.leave.wait())
                lost = asyncio.create_task(self._until_lost(events))
                done, pending = await asyncio.wait({leaving, lost}, return_when=asyncio.FIRST_COMPLETED)
                for task in pending:
                    task.cancel()
                if lost in done:
                    raise ConnectionLostError("closed while listening for alerts")
                return
            clip = self.script[self._next % len(self.script)]
            self._next += 1
            await self._turn(client, events, clip)
            await asyncio.sleep(self._random.uniform(*self.pause_seconds))

    async def _until_lost(self, events: asyncio.Queue) -> None:
        while await events.get() is not _LOST:
            pass

    async def _connect(self) -> WyomingClient | None:
        """Dial until the runtime accepts and greets this satellite (it may be restarting)."""
        delay, longest = RECONNECT_SECONDS
        while not self.leave.is_set():
            client = None
            try:
                client = await WyomingClient.connect("127.0.0.1", self.port, 5.0)
                await hello(client, self.name, self.name, 30.0, self.key)
            except (OSError, TimeoutError, SatelliteTurnError, asyncio.IncompleteReadError) as error:
                logger.debug("%s: cannot reach the runtime (%s); redialling in %.1f s", self.name, error, delay)
                if client is not None:
                    client.abort()
                await asyncio.sleep(delay)
                delay = min(2 * delay, longest)
                continue
            self.connections += 1
            return client
        return None

    async def _read(self, client: WyomingClient, events: asyncio.Queue) -> None:
        """Sort what the runtime sends: alerts are rung here, the rest is for the waiting turn."""
        in_alert = False
        try:
            while True:
                event = await client.receive()
                if event is None:
                    break
                if isinstance(event, Synthesize) and ALERT.match(event.text or ""):
                    self.record.rings.append(Ring(self.name, event.text, time.time()))
                    in_alert = True
                elif in_alert:
                    in_alert = not isinstance(event, AudioStop)
                else:
                    events.put_nowait(event)
        except Exception as error:  # reset, bad frame: the connection is over either way
            logger.info("%s: connection ended: %s", self.name, error or type(error).__name__)
        events.put_nowait(_LOST)

    async def _turn(self, client: WyomingClient, events: asyncio.Queue, clip: Clip) -> None:
        while not events.empty():  # a reply from before a reconnection: not this turn's
            if events.get_nowait() is _LOST:
                raise ConnectionLostError("closed between turns")
        writes = clip.kind in WRITES
        self.record.writes_in_flight += writes
        started = time.time()
        incarnation = self.record.incarnation
        try:
            stopped_at = await stream_request(client, clip.pcm, speed=1.0)
            outcome = await self._reply(events, stopped_at)
        except (ConnectionLostError, OSError) as error:
            self._finished(clip, started, incarnation, answered=False, error="connection-lost")
            raise ConnectionLostError(str(error)) from error
        except TimeoutError:
            self._finished(clip, started, incarnation, answered=False, error="timeout")
            raise ConnectionLostError("no reply") from None
        finally:
            self.record.writes_in_flight -= writes
        reply, latency, error = outcome
        if writes:
            self.record.ack_from(self.name, clip.kind, reply)
        self._finished(clip, started, incarnation, answered=latency is not None and error is None,
                       latency_ms=latency, reply=reply, error=error)

    async def _reply(self, events: asyncio.Queue, stopped_at: float) -> tuple[str | None, float | None, str | None]:
        """(reply text, ms from audio-stop to the first reply audio, error code) of one turn."""
        reply = latency = error = None
        transcript = False
        while True:
            event = await asyncio.wait_for(events.get(), REPLY_SECONDS)
            if event is _LOST:
                raise ConnectionLostError("closed before the reply")
            if isinstance(event, Transcript):
                transcript = True
            elif isinstance(event, Synthesize):
                reply = event.text
            elif isinstance(event, AudioChunk) and latency is None:
                latency = round((time.perf_counter() - stopped_at) * 1000, 1)
            elif isinstance(event, Error):
                error = event.code or "error"
                if not transcript:
                    return reply, latency, error
            elif isinstance(event, AudioStop):
                return reply, latency, error

    def _finished(self, clip: Clip, started: float, incarnation: int, **outcome) -> None:
        self.record.turns.append(TurnOutcome(self.name, clip.kind, clip.text, started, incarnation, **outcome))
