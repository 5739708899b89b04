"""Satellite sessions: remote microphones that stream a request after their wake word.

The exchange on one connection (the satellite dialled us, or we dialled it):

    satellite → info {satellite: {name, area}}      its name (the session key) and room
    server    → run-satellite                        ready; an undelivered reply follows on resume
    satellite → run-pipeline {start_stage: asr, end_stage: tts}
    satellite → audio-start, audio-chunk…, audio-stop   (without audio-stop, `endpoint_silence_seconds`
                                                         of quiet after speech ends the request)
    server    → transcript, synthesize {text: reply}, audio-start, audio-chunk…, audio-stop
              (end_stage handle: transcript, handled; intent: transcript, intent; asr: transcript)
              or error {code: answered-elsewhere} when a louder satellite in the room answers.

Sessions outlive connections: a satellite that disconnects mid-request loses that request (its
audio is freed at once); one that reconnects under the same name within `resume_seconds` gets
its session back, with the reply to a request it finished sending but never heard.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from edge.audio.wavio import RequestAudio
from edge.core.errors import PeerError
from edge.core.settings import AudioSettings, BridgeSettings
from edge.runtime.alerts import NoListenerError
from firmware_bridge.arbitration import RoomArbiter
from firmware_bridge.engine import EngineBusyError, TurnEngine
from firmware_bridge.limits import RequestBuffer
from firmware_bridge.pcm import Endpointer, PcmFormat, level_dbfs
from firmware_bridge.replies import reply_events, speech_events
from firmware_bridge.wyoming.events import (
    AudioChunk,
    AudioStart,
    AudioStop,
    Error,
    RunPipeline,
    RunSatellite,
    Synthesize,
    VoiceStopped,
    WyomingEvent,
)

logger = logging.getLogger(__name__)


class TooManySatellitesError(PeerError):
    """The hub already keeps `bridge.max_satellites` sessions."""


class PeerGoneError(PeerError, ConnectionError):
    """The connection to a peer closed or stopped accepting data."""


class Peer(Protocol):
    label: str

    async def send(self, events: Sequence[WyomingEvent]) -> None: ...

    def close(self) -> None: ...


class SatelliteState(enum.Enum):
    IDLE = "idle"
    STREAMING = "streaming"
    THINKING = "thinking"
    SPEAKING = "speaking"
    DISCONNECTED = "disconnected"


@dataclass
class Request:
    """One request being streamed: small, freed when the audio ends or the satellite leaves."""

    run: RunPipeline
    max_seconds: float
    fmt: PcmFormat | None = None
    audio: RequestBuffer | bytearray = field(default_factory=bytearray)  # a RequestBuffer once the format is known
    endpointer: Endpointer | None = None
    truncated: bool = False


@dataclass
class SatelliteSession:
    name: str
    room: str | None
    resumable: bool  # False for a satellite that never said its name
    state: SatelliteState = SatelliteState.IDLE
    peer: Peer | None = None
    turns: int = 0
    request: Request | None = None
    undelivered: list[WyomingEvent] | None = None
    disconnected_at: float | None = None
    last_trace: dict[str, Any] | None = None
    turn_task: asyncio.Task | None = None


class SatelliteHub:
    def __init__(self, engine: TurnEngine, settings: BridgeSettings, audio: AudioSettings | None = None) -> None:
        self.engine = engine
        self.settings = settings
        self.audio = audio or AudioSettings()
        self.arbiter = RoomArbiter(settings.arbitration_window_seconds)
        self.sessions: dict[str, SatelliteSession] = {}
        self._anonymous = 0

    # --- connections ---------------------------------------------------------------------

    def attach(self, name: str | None, room: str | None, peer: Peer) -> tuple[SatelliteSession, bool]:
        """The session for a satellite that (re)connected: (session, resumed)."""
        self.expire()
        if not name:
            self._anonymous += 1
            name, resumable = f"anonymous-{self._anonymous}@{peer.label}", False
        else:
            resumable = True
        session = self.sessions.get(name)
        if session is not None:
            if session.peer is not None and session.peer is not peer:
                logger.info("satellite %s connected again; dropping its old connection", name)
                old, session.peer = session.peer, None
                self._drop_request(session)
                old.close()
            session.room = room or session.room
            session.peer, session.disconnected_at = peer, None
            if session.state is SatelliteState.DISCONNECTED:
                busy = session.turn_task is not None and not session.turn_task.done()
                session.state = SatelliteState.THINKING if busy else SatelliteState.IDLE
            return session, True
        if len(self.sessions) >= self.settings.max_satellites:
            self._evict_one_away()
        if len(self.sessions) >= self.settings.max_satellites:
            raise TooManySatellitesError(
                f"already serving {len(self.sessions)} satellites; raise bridge.max_satellites"
            )
        session = SatelliteSession(name=name, room=room or None, resumable=resumable, peer=peer)
        self.sessions[name] = session
        logger.info("satellite %s joined (room %s)", name, room or "-")
        return session, False

    async def greet(self, session: SatelliteSession) -> None:
        """Tell the satellite we are ready; hand over a reply it missed while away."""
        await self._send(session, [RunSatellite()])
        if session.undelivered:
            pending, session.undelivered = session.undelivered, None
            logger.info("satellite %s resumed: delivering the reply it missed", session.name)
            await self._deliver(session, pending)

    def detach(self, session: SatelliteSession, peer: Peer) -> None:
        """The connection closed: free the request in flight; keep the session to resume."""
        if session.peer is not peer:
            return  # a newer connection already took over
        session.peer = None
        self._drop_request(session)
        self.arbiter.cancel(session.name)  # also a request already waiting for the room's decision
        session.state = SatelliteState.DISCONNECTED
        session.disconnected_at = time.monotonic()
        if not session.resumable and (session.turn_task is None or session.turn_task.done()):
            self.sessions.pop(session.name, None)
        logger.info("satellite %s disconnected", session.name)

    def expire(self) -> None:
        """Forget sessions disconnected longer than `resume_seconds` (and their undelivered replies)."""
        now = time.monotonic()
        for name, session in list(self.sessions.items()):
            gone = session.disconnected_at
            if session.peer is None and gone is not None and now - gone > self.settings.resume_seconds:
                del self.sessions[name]

    def _evict_one_away(self) -> None:
        """Make room by forgetting the satellite that left longest ago (not one that is connected or busy),
        so names made up by one peer cannot keep real satellites out for `resume_seconds`."""
        away = [s for s in self.sessions.values()
                if s.peer is None and s.disconnected_at is not None and (s.turn_task is None or s.turn_task.done())]
        if away:
            oldest = min(away, key=lambda session: session.disconnected_at)
            logger.info("forgetting satellite %s (away since %.0f s) to make room", oldest.name,
                        time.monotonic() - oldest.disconnected_at)
            del self.sessions[oldest.name]

    @property
    def buffered_bytes(self) -> int:
        return sum(len(s.request.audio) for s in self.sessions.values() if s.request is not None)

    def _drop_request(self, session: SatelliteSession) -> None:
        if session.request is not None:
            session.request = None
            self.arbiter.cancel(session.name)
            if session.state is SatelliteState.STREAMING:
                session.state = SatelliteState.IDLE

    # --- events from a satellite ------------------------------------------------------------

    async def on_event(self, session: SatelliteSession, event: WyomingEvent) -> None:
        if isinstance(event, RunPipeline):
            await self._begin(session, event)
        elif isinstance(event, (AudioStart, AudioChunk)):
            await self._audio(session, event)
        elif isinstance(event, AudioStop) and session.request is not None:
            self._finish(session, endpointed=False)

    async def _begin(self, session: SatelliteSession, run: RunPipeline) -> None:
        if run.start_stage != "asr" and not (run.start_stage == "tts" and run.announce_text):
            await self._send(session, [Error(
                text=f"this server starts pipelines at the asr stage, not {run.start_stage}: detect the wake "
                "word on the satellite (e.g. wyoming-satellite --wake-command or --wake-uri)",
                code="unsupported-stage",
            )])
            return
        if session.state in (SatelliteState.THINKING, SatelliteState.SPEAKING):
            await self._send(session, [Error(text="still answering the previous request; try again", code="busy")])
            return
        if run.announce_text and len(run.announce_text) > self.settings.max_text_chars:
            await self._send(session, [Error(text=f"announce_text of {len(run.announce_text)} characters is over "
                                            f"bridge.max_text_chars ({self.settings.max_text_chars})", code="too-long")])
            return
        self._drop_request(session)
        if run.start_stage == "tts":
            session.state = SatelliteState.THINKING
            session.turn_task = asyncio.create_task(self._announce(session, run.announce_text or ""))
            return
        session.request = Request(run, max_seconds=self.audio.max_request_seconds)
        session.state = SatelliteState.STREAMING
        logger.debug("satellite %s: request started (%s → %s)", session.name, run.start_stage, run.end_stage)
        self.arbiter.start(session.name, session.room)

    async def _audio(self, session: SatelliteSession, event: AudioStart | AudioChunk) -> None:
        request = session.request
        if request is None:
            return  # audio outside a request (an always-streaming satellite): not for us
        fmt = PcmFormat(event.rate, event.width, event.channels)
        if request.fmt is None:
            request.fmt = fmt
            request.audio = RequestBuffer(fmt, request.max_seconds, self.audio.sample_rate)
            request.endpointer = Endpointer(
                fmt, self.settings.endpoint_silence_seconds, self.settings.endpoint_threshold_dbfs, request.max_seconds
            )
        elif fmt != request.fmt:
            self._drop_request(session)
            await self._send(session, [Error(text="audio format changed within one request", code="bad-audio")])
            return
        if isinstance(event, AudioStart):
            return
        request.audio.add(event.audio)  # kept as 16 kHz mono: bounded in seconds whatever the format
        request.truncated = request.audio.truncated
        if request.endpointer is not None and request.endpointer.feed(event.audio):
            self._finish(session, endpointed=True)

    def _finish(self, session: SatelliteSession, endpointed: bool) -> None:
        request, session.request = session.request, None
        if request is None:
            return
        session.state = SatelliteState.THINKING
        logger.debug("satellite %s: request ended (%s), %d bytes", session.name,
                     "silence" if endpointed else "audio-stop", len(request.audio))
        session.turn_task = asyncio.create_task(self._turn(session, request, endpointed))

    # --- turns ----------------------------------------------------------------------------

    async def _turn(self, session: SatelliteSession, request: Request, endpointed: bool) -> None:
        try:
            if endpointed:
                await self._send(session, [VoiceStopped()])
            fmt = request.fmt or PcmFormat()
            samples = request.audio.samples() if isinstance(request.audio, RequestBuffer) else np.zeros(0, np.float32)
            request.audio = bytearray()  # freed before inference
            if len(samples) == 0:
                samples = np.zeros(self.audio.sample_rate // 10, np.float32)
            won = await self.arbiter.claim(session.name, level_dbfs(samples))
            if not won:
                await self._send(session, [Error(
                    text=f"a satellite nearer the speaker in room {session.room!r} answered this request",
                    code="answered-elsewhere",
                )])
                session.state = SatelliteState.IDLE if session.peer is not None else SatelliteState.DISCONNECTED
                return
            audio = RequestAudio(samples, self.audio.sample_rate, fmt.rate, fmt.channels, request.truncated)
            result = await self.engine.run_turn(audio, session.name, session.room or "")
            session.turns += 1
            session.last_trace = result.trace.to_dict()
            events = reply_events(result, request.run.end_stage, self.engine.sample_rate, self.settings.samples_per_chunk)
            await self._deliver(session, events)
        except EngineBusyError as error:
            await self._deliver(session, [Error(text=str(error), code="busy")])
        except Exception:  # one failed turn must not end the hub
            logger.exception("satellite %s: turn failed", session.name)
            await self._deliver(session, [Error(text="the turn failed on the server; see its log", code="turn-failed")])

    async def announce_alert(self, text: str, session_name: str = "") -> list[str]:
        """Speak a due alert to the satellite that set it (`session_name`), or to every connected
        satellite when it was set elsewhere (the speaker itself, a chat) or its satellite is gone.
        Returns the satellites that got it; an idle satellite hears it at once, a busy one after
        its reply (the events are queued on its connection). With no satellite connected (they
        are redialling after a restart) it raises NoListenerError: the alert waits for one."""
        owner = self.sessions.get(session_name)
        targets = [owner] if owner is not None and owner.peer is not None else [
            session for session in self.sessions.values() if session.peer is not None]
        if not targets:
            raise NoListenerError("no satellite is connected")
        speech = await self.engine.synthesize_alert(text)
        events = [Synthesize(text=text), *speech_events(speech.samples, speech.sample_rate, self.settings.samples_per_chunk)]

        async def deliver(session: SatelliteSession) -> str | None:
            try:
                await session.peer.send(events)
                return session.name
            except (ConnectionError, AttributeError):  # it left while we spoke
                logger.info("satellite %s left before its alert was delivered", session.name)
                return None

        # To all at once: a satellite slow to take its audio does not delay the others.
        return [name for name in await asyncio.gather(*map(deliver, targets)) if name is not None]

    async def _announce(self, session: SatelliteSession, text: str) -> None:
        try:
            speech = await self.engine.synthesize(text)
            await self._deliver(session, speech_events(speech.samples, speech.sample_rate, self.settings.samples_per_chunk))
        except EngineBusyError as error:
            await self._deliver(session, [Error(text=str(error), code="busy")])

    async def _deliver(self, session: SatelliteSession, events: list[WyomingEvent]) -> None:
        """Send a reply, or keep it for the satellite's return if it is away."""
        session.state = SatelliteState.SPEAKING
        try:
            if session.peer is None:
                raise PeerGoneError("not connected")
            await session.peer.send(events)
        except ConnectionError:
            if session.resumable:
                session.undelivered = events
                logger.info("satellite %s is away; its reply waits %.0f s for it", session.name, self.settings.resume_seconds)
        finally:
            session.state = SatelliteState.IDLE if session.peer is not None else SatelliteState.DISCONNECTED

    async def _send(self, session: SatelliteSession, events: list[WyomingEvent]) -> None:
        if session.peer is not None:
            try:
                await session.peer.send(events)
            except ConnectionError:
                logger.debug("satellite %s: send failed, connection is closing", session.name)
