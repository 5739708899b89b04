"""One Wyoming connection: service requests (asr, tts, intent, handle) and satellite sessions.

The same class serves a peer that dialled us and one we dialled (a `wyoming-satellite`): a
satellite says who it is with an `info` event, after which its events go to the `SatelliteHub`.
Every other request is answered on the connection, one at a time, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edge.core.settings import BridgeSettings
from firmware_bridge.access import AccessDenied, NameClaims, PeerGate
from firmware_bridge.engine import EngineBusyError, TurnEngine
from firmware_bridge.limits import RequestBuffer, text_too_long
from firmware_bridge.pcm import PcmFormat
from firmware_bridge.replies import speech_events
from firmware_bridge.satellites import PeerGoneError, SatelliteHub, SatelliteSession, TooManySatellitesError
from firmware_bridge.wyoming.events import (
    AudioChunk,
    AudioStart,
    AudioStop,
    Describe,
    Error,
    EventFormatError,
    Handled,
    Info,
    Intent,
    NotHandled,
    NotRecognized,
    Ping,
    Pong,
    Recognize,
    RunPipeline,
    Synthesize,
    Transcribe,
    Transcript,
    WyomingEvent,
    decode_event,
)
from firmware_bridge.wyoming.framing import FrameLimits, FrameReader, WyomingProtocolError, encode_frame

logger = logging.getLogger(__name__)

LINGER_SECONDS = 1.0  # a refused peer's last bytes are read (and dropped) this long at most…
LINGER_BYTES = 1 << 20  # …and this many


def frame_limits(settings: BridgeSettings) -> FrameLimits:
    return FrameLimits(settings.max_header_bytes, settings.max_data_bytes, settings.max_payload_bytes)


class StreamPeer:
    """Writes whole events to one stream; concurrent senders never interleave frames."""

    def __init__(self, writer: asyncio.StreamWriter, write_timeout_seconds: float) -> None:
        self._writer = writer
        self._timeout = write_timeout_seconds
        self._lock = asyncio.Lock()
        address = writer.get_extra_info("peername")
        self.label = f"{address[0]}:{address[1]}" if isinstance(address, tuple) else str(address)

    async def send(self, events: Sequence[WyomingEvent]) -> None:
        async with self._lock:
            try:
                for event in events:
                    if self._writer.is_closing():
                        raise PeerGoneError(f"connection to {self.label} is closed")
                    self._writer.write(encode_frame(event.to_frame()))
                    await asyncio.wait_for(self._writer.drain(), self._timeout)
            except (ConnectionError, TimeoutError) as error:
                self._writer.close()
                raise PeerGoneError(f"connection to {self.label} lost: {error or type(error).__name__}") from error

    def close(self) -> None:
        self._writer.close()


@dataclass
class _AsrRequest:
    language: str | None = None
    fmt: PcmFormat | None = None
    audio: RequestBuffer | None = None  # 16 kHz mono, bounded in seconds whatever the declared format


async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, text: str, code: str) -> None:
    """Tell a peer why it is not served, then close (for connections refused before they start)."""
    with contextlib.suppress(ConnectionError, TimeoutError):
        writer.write(encode_frame(Error(text=text, code=code).to_frame()))
        await asyncio.wait_for(writer.drain(), 2.0)
    await linger(reader, writer)


async def linger(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Close so that the peer can still read the last error: stop writing, then swallow what it sends
    for a moment (closing on unread data would reset the connection and lose the error), then close."""
    with contextlib.suppress(ConnectionError, TimeoutError, OSError, RuntimeError):
        if writer.can_write_eof():
            writer.write_eof()
        async with asyncio.timeout(LINGER_SECONDS):
            swallowed = 0
            while swallowed < LINGER_BYTES and (data := await reader.read(65536)):
                swallowed += len(data)
    writer.close()


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, engine: TurnEngine,
                 hub: SatelliteHub, info: Info, settings: BridgeSettings, max_request_seconds: float = 30.0,
                 gate: PeerGate | None = None, names: NameClaims | None = None) -> None:
        self._frames = FrameReader(reader, frame_limits(settings))
        self._reader, self._writer = reader, writer
        self.peer = StreamPeer(writer, settings.write_timeout_seconds)
        self._engine = engine
        self._hub = hub
        self._info = info
        self._settings = settings
        self._max_request_seconds = max_request_seconds
        self._asr: _AsrRequest | None = None
        self.session: SatelliteSession | None = None
        self.gate = gate or PeerGate.trusted()  # who this peer proved to be (firmware_bridge.access)
        self._names = names or NameClaims()
        self._idle_seconds = None if self.gate.opened_by_server else settings.idle_timeout_seconds  # none on dialled satellites
        # Service requests (`handle` a transcript) from one address are one conversation of their own
        # (Home Assistant opens a connection per request).
        self.service_session = f"wyoming:{self.peer.label.rsplit(':', 1)[0]}"

    @property
    def buffered_bytes(self) -> int:
        return len(self._asr.audio) if self._asr is not None and self._asr.audio is not None else 0

    async def run(self, first: Sequence[WyomingEvent] = ()) -> None:
        """Serve until the peer leaves; `first` events are sent before reading (e.g. a describe)."""
        try:
            opening = [*self.gate.opening_events(), *first]
            if opening:
                await self.peer.send(opening)
            while (frame := await self._next_frame()) is not None:
                if self.gate.take(frame):
                    continue
                try:
                    event = decode_event(frame)
                except EventFormatError as error:
                    await self.peer.send([Error(text=str(error), code="bad-event")])
                    continue
                if isinstance(event, WyomingEvent):
                    await self._dispatch(event)
                else:
                    logger.debug("%s: ignoring unknown event type %r", self.peer.label, frame.type)
        except WyomingProtocolError as error:
            logger.warning("%s: closing connection: %s", self.peer.label, error)
            await self._try_send([Error(text=str(error), code="protocol-error")])
        except AccessDenied as error:
            logger.warning("%s: closing connection: %s", self.peer.label, error)
            await self._try_send([Error(text=str(error), code=error.code)])
            await linger(self._reader, self._writer)
        except ConnectionError as error:
            logger.info("%s: connection lost: %s", self.peer.label, error)
        finally:
            if self.session is not None:
                self._hub.detach(self.session, self.peer)
            self.peer.close()

    async def _next_frame(self):
        """The next frame; a peer that is not a satellite must send a whole one within the idle timeout."""
        if self.session is not None or self._idle_seconds is None:
            return await self._frames.read()
        try:
            return await asyncio.wait_for(self._frames.read(), self._idle_seconds)
        except TimeoutError as error:
            raise AccessDenied(f"no whole event for {self._idle_seconds:g} s (bridge.idle_timeout_seconds)", "idle") from error

    async def _try_send(self, events: Sequence[WyomingEvent]) -> None:
        try:
            await self.peer.send(events)
        except ConnectionError:
            pass

    async def _dispatch(self, event: WyomingEvent) -> None:  # noqa: C901 (one branch per event type)
        if isinstance(event, Describe):
            await self.peer.send([self._info])
        elif isinstance(event, Ping):
            await self.peer.send([Pong(text=event.text)])
        elif isinstance(event, Info):
            await self._hello(event)
        elif isinstance(event, RunPipeline) or (self.session is not None and isinstance(event, (AudioStart, AudioChunk, AudioStop))):
            if self.session is None:
                await self._hello(Info())
            if self.session is not None:
                await self._hub.on_event(self.session, event)
        elif isinstance(event, Transcribe):
            self._asr = _AsrRequest(language=event.language)
        elif isinstance(event, (AudioStart, AudioChunk, AudioStop)):
            await self._asr_audio(event)
        else:
            await self._service(event)

    async def _hello(self, info: Info) -> None:
        satellite = info.satellite or {}
        name = satellite.get("name") if isinstance(satellite.get("name"), str) else None
        area = satellite.get("area") if isinstance(satellite.get("area"), str) else None
        if name:
            self._names.claim(name, self.gate, self._hub.sessions)  # AccessDenied: the name is another peer's
        if self.session is not None:
            self._hub.detach(self.session, self.peer)
        try:
            self.session, _resumed = self._hub.attach(name, area, self.peer)
        except TooManySatellitesError as error:
            await self.peer.send([Error(text=str(error), code="too-many-satellites")])
            return
        await self._hub.greet(self.session)

    async def _service(self, event: WyomingEvent) -> None:
        too_long = text_too_long(event, self._settings.max_text_chars)
        if too_long is not None:
            await self.peer.send([Error(text=too_long, code="too-long")])
            return
        try:
            replies = await self._answer(event)
        except EngineBusyError as error:
            replies = [Error(text=str(error), code="busy")]
        if replies:
            await self.peer.send(replies)

    async def _answer(self, event: WyomingEvent) -> list[WyomingEvent]:
        if isinstance(event, Synthesize):
            speech = await self._engine.synthesize(event.text)
            return speech_events(speech.samples, speech.sample_rate, self._settings.samples_per_chunk)
        if isinstance(event, Recognize):
            result = await self._engine.recognize(event.text)
            if result.out_of_scope:
                return [NotRecognized(text=event.text, context=event.context)]
            entities = [{"name": name, "value": value} for name, value in result.slots.items()]
            return [Intent(name=result.intent, entities=entities, text=event.text, context=event.context)]
        if isinstance(event, Transcript):  # the handle domain: text in, answer out
            understood = await self._engine.understand(event.text, self.service_session)
            reply_type = Handled if understood.handled else NotHandled
            return [reply_type(text=understood.text, context=event.context)]
        if isinstance(event, Intent):
            slots = {str(e.get("name")): str(e.get("value")) for e in event.entities if isinstance(e, dict)}
            reply = await self._engine.handle_intent(event.name, slots, event.text or "", self.service_session)
            reply_type = NotHandled if reply.skill in ("", "fallback") else Handled
            return [reply_type(text=reply.text, context=event.context)]
        logger.debug("%s: no answer for %s", self.peer.label, event.type)
        return []

    async def _asr_audio(self, event: AudioStart | AudioChunk | AudioStop) -> None:
        request = self._asr = self._asr or _AsrRequest()
        if isinstance(event, (AudioStart, AudioChunk)):
            fmt = PcmFormat(event.rate, event.width, event.channels)
            if request.fmt is None:
                request.fmt, request.audio = fmt, RequestBuffer(fmt, self._max_request_seconds)
            elif fmt != request.fmt:
                self._asr = None
                await self.peer.send([Error(text="audio format changed within one request", code="bad-audio")])
                return
        if isinstance(event, AudioChunk):
            request.audio.add(event.audio)
            return
        if isinstance(event, AudioStop):
            self._asr = None
            samples = request.audio.samples() if request.audio is not None else np.zeros(0, np.float32)
            try:
                transcript = await self._engine.transcribe(samples)
            except EngineBusyError as error:
                await self.peer.send([Error(text=str(error), code="busy")])
                return
            await self.peer.send([Transcript(text=transcript.text, language=request.language or transcript.language)])
