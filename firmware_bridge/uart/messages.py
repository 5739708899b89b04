"""Typed UART messages: what each frame type's payload holds (see UART_SPEC.md).

`to_frame(message, seq)` and `from_frame(frame)`; a payload that does not fit its type raises
`UartMessageError`, an unknown type too (the link still acknowledges it: newer firmware may
send types this host does not know).
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass, field

from firmware_bridge.uart.frames import MAX_PAYLOAD_BYTES, PROTOCOL_VERSION, MessageType, UartFrame, UartMessageError

MIN_RATE, MAX_RATE, MAX_CHANNELS = 1000, 384000, 16  # what an AUDIO_START may declare (as Wyoming's audio-start)


class LedState(enum.IntEnum):
    OFF = 0
    IDLE = 1
    LISTENING = 2
    THINKING = 3
    SPEAKING = 4
    ERROR = 5
    MUTED = 6


class ButtonAction(enum.IntEnum):
    RELEASED = 0
    PRESSED = 1
    LONG_PRESS = 2
    DOUBLE_PRESS = 3


@dataclass(frozen=True)
class Hello:
    session: int  # random u32 chosen at each start; a new value resets the receiver
    reply_requested: bool = True  # the receiver answers with its own Hello (first boot)
    max_payload: int = MAX_PAYLOAD_BYTES
    name: str = ""
    version: int = PROTOCOL_VERSION


@dataclass(frozen=True)
class AudioStart:
    rate: int = 16000  # hertz
    width: int = 2  # bytes per sample
    channels: int = 1


@dataclass(frozen=True)
class Audio:
    pcm: bytes = b""  # little-endian PCM in the format of the last AudioStart


@dataclass(frozen=True)
class AudioStop:
    pass


@dataclass(frozen=True)
class Button:
    button: int = 0  # 0: the main (talk) button
    action: ButtonAction = ButtonAction.PRESSED


@dataclass(frozen=True)
class LedRing:
    state: LedState = LedState.IDLE
    rgb: tuple[int, int, int] = field(default=(0, 0, 255))
    brightness: int = 128  # 0-255


@dataclass(frozen=True)
class Volume:
    level: int = 50  # percent, 0-100
    muted: bool = False


Message = Hello | AudioStart | Audio | AudioStop | Button | LedRing | Volume


_FIXED = {  # type -> (struct format, class) for the fixed-size payloads
    MessageType.AUDIO_START: ("<IBB", AudioStart),
    MessageType.BUTTON: ("<BB", Button),
    MessageType.VOLUME: ("<BB", Volume),
}


def to_frame(message: Message, seq: int = 0) -> UartFrame:
    if isinstance(message, Hello):
        name = message.name.encode("utf-8")[: MAX_PAYLOAD_BYTES - 8]
        flags = 1 if message.reply_requested else 0
        payload = struct.pack("<BIBH", message.version, message.session & 0xFFFFFFFF, flags, message.max_payload) + name
        return UartFrame(MessageType.HELLO, seq, payload)
    if isinstance(message, AudioStart):
        return UartFrame(MessageType.AUDIO_START, seq, struct.pack("<IBB", message.rate, message.width, message.channels))
    if isinstance(message, Audio):
        return UartFrame(MessageType.AUDIO, seq, message.pcm)
    if isinstance(message, AudioStop):
        return UartFrame(MessageType.AUDIO_STOP, seq)
    if isinstance(message, Button):
        return UartFrame(MessageType.BUTTON, seq, struct.pack("<BB", message.button, message.action))
    if isinstance(message, LedRing):
        red, green, blue = message.rgb
        return UartFrame(MessageType.LED_RING, seq, struct.pack("<BBBBB", message.state, red, green, blue, message.brightness))
    if isinstance(message, Volume):
        return UartFrame(MessageType.VOLUME, seq, struct.pack("<BB", message.level, int(message.muted)))
    raise UartMessageError(f"{type(message).__name__} is not a UART message")


def from_frame(frame: UartFrame) -> Message:
    try:
        return _decode(frame)
    except (struct.error, ValueError) as error:  # wrong payload size, or an enum value out of range
        raise UartMessageError(f"type 0x{frame.type:02x} payload of {len(frame.payload)} bytes is invalid: {error}") from error


def _decode(frame: UartFrame) -> Message:
    payload = frame.payload
    if frame.type == MessageType.HELLO:
        version, session, flags, max_payload = struct.unpack_from("<BIBH", payload)
        name = payload[8:].decode("utf-8", errors="replace")
        return Hello(session, bool(flags & 1), max_payload, name, version)
    if frame.type == MessageType.AUDIO:
        return Audio(payload)
    if frame.type == MessageType.AUDIO_STOP:
        return AudioStop()
    if frame.type == MessageType.LED_RING:
        state, red, green, blue, brightness = struct.unpack("<BBBBB", payload)
        return LedRing(LedState(state), (red, green, blue), brightness)
    if frame.type in _FIXED:
        fmt, cls = _FIXED[MessageType(frame.type)]
        values = struct.unpack(fmt, payload)
        if cls is Button:
            return Button(values[0], ButtonAction(values[1]))
        if cls is Volume:
            if values[0] > 100:
                raise ValueError(f"volume {values[0]} is above 100")
            return Volume(values[0], bool(values[1]))
        rate, width, channels = values
        if not MIN_RATE <= rate <= MAX_RATE or width not in (1, 2, 3, 4) or not 1 <= channels <= MAX_CHANNELS:
            raise ValueError(f"audio format rate={rate} Hz width={width} channels={channels}; "
                             f"send {MIN_RATE}-{MAX_RATE} Hz, width 1-4, 1-{MAX_CHANNELS} channels")
        return AudioStart(*values)
    raise UartMessageError(f"unknown message type 0x{frame.type:02x}")
