"""UART frames for boards without Wi-Fi: COBS framing, CRC-16/CCITT-FALSE, typed messages.

Wire format (see UART_SPEC.md): each frame is COBS(body) followed by one 0x00 delimiter, where

    body = type u8 | seq u8 | length u16 LE | payload (length bytes) | crc u16 LE
    crc  = CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final xor) of
           type..payload

Decoding never trusts the input: every malformed frame raises a `UartFrameError` subclass,
and `FrameParser` (the stream side) counts and drops such frames and never holds more than one
maximum-size frame.
"""

from __future__ import annotations

import binascii
import enum
import struct
from dataclasses import dataclass

from edge.core.errors import BadInputError

MAX_PAYLOAD_BYTES = 1024
HEADER_BYTES = 4  # type, seq, length
CRC_BYTES = 2
MAX_BODY_BYTES = HEADER_BYTES + MAX_PAYLOAD_BYTES + CRC_BYTES
MAX_ENCODED_BYTES = MAX_BODY_BYTES + MAX_BODY_BYTES // 254 + 1  # COBS adds one byte per 254
PROTOCOL_VERSION = 1


class UartFrameError(BadInputError, ValueError):
    """Bytes between two delimiters are not a valid frame."""


class CobsError(UartFrameError):
    """The COBS encoding is broken (a code byte points past the end, or a zero inside)."""


class CrcMismatchError(UartFrameError):
    """The CRC does not match: the frame was corrupted on the line."""


class FrameLengthError(UartFrameError):
    """Too short, too long, or the length field disagrees with the bytes received."""


class UartMessageError(BadInputError, ValueError):
    """A valid frame whose payload is not the message its type says."""


def crc16_ccitt_false(data: bytes) -> int:
    """CRC-16/CCITT-FALSE; check value for b"123456789" is 0x29B1."""
    return binascii.crc_hqx(data, 0xFFFF)


def cobs_encode(data: bytes) -> bytes:
    """Consistent Overhead Byte Stuffing: the result holds no zero byte (delimiter not included)."""
    out = bytearray(b"\x00")
    code_at: int | None = 0
    code = 1
    last = len(data) - 1
    for index, byte in enumerate(data):
        if byte:
            out.append(byte)
            code += 1
        if not byte or code == 0xFF:
            out[code_at] = code
            code = 1
            code_at = None
            if not byte or index < last:
                code_at = len(out)
                out.append(0)
    if code_at is not None:
        out[code_at] = code
    return bytes(out)


def cobs_decode(data: bytes) -> bytes:
    out = bytearray()
    index, size = 0, len(data)
    while index < size:
        code = data[index]
        end = index + code
        if code == 0:
            raise CobsError(f"zero byte at offset {index} inside a COBS frame")
        if end > size:
            raise CobsError(f"COBS block at offset {index} runs {end - size} bytes past the frame")
        block = data[index + 1 : end]
        if 0 in block:
            raise CobsError("zero byte inside a COBS block")
        out += block
        index = end
        if code != 0xFF and index < size:
            out.append(0)
    return bytes(out)


class MessageType(enum.IntEnum):
    ACK = 0x01
    HELLO = 0x02
    AUDIO_START = 0x10
    AUDIO = 0x11
    AUDIO_STOP = 0x12
    BUTTON = 0x20
    LED_RING = 0x21
    VOLUME = 0x22


@dataclass(frozen=True)
class UartFrame:
    type: int  # MessageType value (unknown values are carried, not refused)
    seq: int  # 0-255
    payload: bytes = b""


def encode_frame(frame: UartFrame) -> bytes:
    """The frame on the wire: COBS(body) + 0x00."""
    if len(frame.payload) > MAX_PAYLOAD_BYTES:
        raise FrameLengthError(f"payload of {len(frame.payload)} bytes exceeds {MAX_PAYLOAD_BYTES}; split it")
    header = struct.pack("<BBH", frame.type & 0xFF, frame.seq & 0xFF, len(frame.payload))
    body = header + frame.payload
    return cobs_encode(body + struct.pack("<H", crc16_ccitt_false(body))) + b"\x00"


def decode_frame(encoded: bytes) -> UartFrame:
    """One frame from the bytes between two delimiters (without the 0x00)."""
    if len(encoded) > MAX_ENCODED_BYTES:
        raise FrameLengthError(f"{len(encoded)} bytes without a delimiter is longer than any frame")
    body = cobs_decode(encoded)
    if len(body) < HEADER_BYTES + CRC_BYTES:
        raise FrameLengthError(f"frame of {len(body)} bytes is shorter than the {HEADER_BYTES + CRC_BYTES}-byte minimum")
    message_type, seq, length = struct.unpack_from("<BBH", body)
    if length != len(body) - HEADER_BYTES - CRC_BYTES:
        raise FrameLengthError(f"length field says {length} payload bytes, frame holds {len(body) - HEADER_BYTES - CRC_BYTES}")
    (crc,) = struct.unpack_from("<H", body, len(body) - CRC_BYTES)
    if crc != crc16_ccitt_false(body[: -CRC_BYTES]):
        raise CrcMismatchError(f"CRC mismatch on a type 0x{message_type:02x} frame (corrupted on the line)")
    return UartFrame(message_type, seq, body[HEADER_BYTES:-CRC_BYTES])


@dataclass
class ParserStats:
    frames: int = 0
    crc_errors: int = 0
    cobs_errors: int = 0
    length_errors: int = 0
    oversized: int = 0  # runs of bytes longer than any frame, dropped up to the next delimiter


class FrameParser:
    """Splits a byte stream at 0x00 delimiters; bad frames are counted and dropped."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._overflowed = False
        self.stats = ParserStats()

    @property
    def buffered_bytes(self) -> int:
        return len(self._buffer)

    def feed(self, data: bytes) -> list[UartFrame]:
        frames = []
        start = 0
        while (zero := data.find(0, start)) >= 0:
            self._append(data[start:zero])
            start = zero + 1
            frame = self._complete()
            if frame is not None:
                frames.append(frame)
        self._append(data[start:])
        return frames

    def _append(self, piece: bytes) -> None:
        if self._overflowed:
            return
        if len(self._buffer) + len(piece) > MAX_ENCODED_BYTES:
            self._buffer.clear()
            self._overflowed = True
            self.stats.oversized += 1
            return
        self._buffer += piece

    def _complete(self) -> UartFrame | None:
        raw = bytes(self._buffer)
        self._buffer.clear()
        if self._overflowed or not raw:  # an over-long run ends here; a lone 0x00 is idle fill
            self._overflowed = False
            return None
        try:
            frame = decode_frame(raw)
        except CrcMismatchError:
            self.stats.crc_errors += 1
            return None
        except CobsError:
            self.stats.cobs_errors += 1
            return None
        except FrameLengthError:
            self.stats.length_errors += 1
            return None
        self.stats.frames += 1
        return frame
