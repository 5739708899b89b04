"""A board on a serial port as a satellite: its talk button starts a request, the reply comes back.

The board (see UART_SPEC.md) sends BUTTON(0, pressed), then AUDIO_START, AUDIO…, AUDIO_STOP
(or no stop: the hub ends the request after silence). The host answers on the same link:
LED_RING listening / thinking / speaking / idle (error on a failed turn), then the reply as
AUDIO_START (22 050 Hz), AUDIO…, AUDIO_STOP. The board's name and room come from settings,
so two boards in one room take part in wake-word arbitration like network satellites.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from firmware_bridge.satellites import PeerGoneError, SatelliteHub
from firmware_bridge.uart.frames import MAX_PAYLOAD_BYTES
from firmware_bridge.uart.link import UartLink
from firmware_bridge.uart.messages import Audio, AudioStart, AudioStop, Button, ButtonAction, LedRing, LedState, Volume
from firmware_bridge.uart.transport import LinkDownError
from firmware_bridge.wyoming import events as wy
from firmware_bridge.wyoming.schema import EventFormatError

logger = logging.getLogger(__name__)

COLOURS = {  # LED ring colour per state
    LedState.IDLE: (0, 0, 64), LedState.LISTENING: (0, 0, 255), LedState.THINKING: (255, 160, 0),
    LedState.SPEAKING: (0, 255, 64), LedState.ERROR: (255, 0, 0),
}


class UartSatellite:
    """Translates between a `UartLink` and a `SatelliteHub` session (it is that session's peer)."""

    def __init__(self, link: UartLink, hub: SatelliteHub, name: str, room: str | None = None) -> None:
        self.link = link
        self.hub = hub
        self.name = name
        self.room = room
        self.label = f"uart:{name}"
        self.volume: Volume | None = None  # the last knob position the board reported
        self._board_format = AudioStart()  # of the board's microphone audio, from its AUDIO_START
        self._sending = asyncio.Lock()  # one batch at a time: an alert never splices into a reply's audio

    async def run(self) -> None:
        """Serve the board until cancelled; the link itself re-synchronises after resets."""
        await self.link.open()
        session = None
        try:
            await self.link.wait_up()
            session, _resumed = self.hub.attach(self.name, self.room, self)
            await self.hub.greet(session)
            while True:
                message = await self.link.receive()
                if isinstance(message, Button) and message.button == 0 and message.action == ButtonAction.PRESSED:
                    await self.link.send(_led(LedState.LISTENING))
                try:
                    events = self._events_for(message)
                except EventFormatError as error:  # refuse the frame, keep serving the board
                    logger.warning("board %s: refused %s: %s", self.name, type(message).__name__, error)
                    await self.link.send(_led(LedState.ERROR))
                    continue
                for event in events:
                    await self.hub.on_event(session, event)
        finally:
            if session is not None:
                self.hub.detach(session, self)
            await self.link.close()

    def _events_for(self, message) -> list[wy.WyomingEvent]:
        if isinstance(message, Button) and message.button == 0 and message.action == ButtonAction.PRESSED:
            return [wy.RunPipeline(start_stage="asr", end_stage="tts", wake_word_name="button")]
        if isinstance(message, AudioStart):
            self._board_format = message
            return [wy.AudioStart(rate=message.rate, width=message.width, channels=message.channels)]
        if isinstance(message, Audio):
            fmt = self._board_format
            return [wy.AudioChunk(rate=fmt.rate, width=fmt.width, channels=fmt.channels, audio=message.pcm)]
        if isinstance(message, AudioStop):
            return [wy.AudioStop()]
        if isinstance(message, Volume):
            self.volume = message
        return []

    async def send(self, events: Sequence[wy.WyomingEvent]) -> None:
        """The hub's events for this satellite, as UART messages (the Peer protocol). A batch goes out
        whole: `link.send` waits for window space, and another batch (an alert while a reply is
        going out) must not slip its frames in between."""
        try:
            async with self._sending:
                for event in events:
                    for message in self._messages_for(event):
                        await self.link.send(message)
        except LinkDownError as error:
            raise PeerGoneError(f"board {self.name}: {error}") from error

    def _messages_for(self, event: wy.WyomingEvent) -> list:
        if isinstance(event, wy.RunSatellite):
            return [_led(LedState.IDLE)]
        if isinstance(event, wy.AudioStop):
            return [AudioStop(), _led(LedState.IDLE)]
        if isinstance(event, (wy.VoiceStopped, wy.Transcript)):
            return [_led(LedState.THINKING)]
        if isinstance(event, wy.AudioStart):
            return [_led(LedState.SPEAKING), AudioStart(event.rate, event.width, event.channels)]
        if isinstance(event, wy.AudioChunk):
            return [Audio(event.audio[start : start + MAX_PAYLOAD_BYTES]) for start in range(0, len(event.audio), MAX_PAYLOAD_BYTES)]
        if isinstance(event, wy.Error):
            logger.info("board %s: %s (%s)", self.name, event.text, event.code)
            return [_led(LedState.ERROR), _led(LedState.IDLE)]
        return []

    def close(self) -> None:
        """Asked to drop this peer (a newer connection took the name): nothing to close on a serial line."""


def _led(state: LedState) -> LedRing:
    return LedRing(state, COLOURS.get(state, (0, 0, 0)), 128)
