"""Our implementation of the Wyoming protocol (Home Assistant, Rhasspy): framing and event types."""

from firmware_bridge.wyoming.events import EVENT_TYPES, EventFormatError, WyomingEvent, decode_event
from firmware_bridge.wyoming.framing import (
    PROTOCOL_VERSION,
    Frame,
    FrameDecoder,
    FrameLimits,
    FrameReader,
    HeaderTooLargeError,
    MalformedFrameError,
    PayloadTooLargeError,
    TruncatedFrameError,
    WyomingProtocolError,
    encode_frame,
    write_frame,
)

__all__ = [
    "EVENT_TYPES",
    "PROTOCOL_VERSION",
    "EventFormatError",
    "Frame",
    "FrameDecoder",
    "FrameLimits",
    "FrameReader",
    "HeaderTooLargeError",
    "MalformedFrameError",
    "PayloadTooLargeError",
    "TruncatedFrameError",
    "WyomingEvent",
    "WyomingProtocolError",
    "decode_event",
    "encode_frame",
    "write_frame",
]
