"""Typed pipeline events and their one JSON codec.

Every message between stages (and, later, over the network) is one of these small frozen
dataclasses. `encode_event` / `decode_event` turn them into one JSON object per line:
`{"type": "transcript", "data": {...}}`, with binary audio as base64. A line that is not a
valid event raises `EventDecodeError`; it never decodes to None (garbage is not end of stream).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar

from edge.core.errors import BadInputError


class EventDecodeError(BadInputError, ValueError):
    """A line is not a valid encoded event; the message says which part is wrong."""


@dataclass(frozen=True)
class Event:
    type: ClassVar[str] = ""


@dataclass(frozen=True)
class AudioStart(Event):
    type: ClassVar[str] = "audio-start"
    rate: int = 16000  # hertz
    width: int = 2  # bytes per sample
    channels: int = 1


@dataclass(frozen=True)
class AudioChunk(Event):
    type: ClassVar[str] = "audio-chunk"
    audio: bytes = b""  # little-endian PCM
    rate: int = 16000  # hertz
    width: int = 2  # bytes per sample
    channels: int = 1


@dataclass(frozen=True)
class AudioStop(Event):
    type: ClassVar[str] = "audio-stop"


@dataclass(frozen=True)
class Detection(Event):
    type: ClassVar[str] = "detection"
    name: str = ""  # wake word model name
    score: float = 0.0


@dataclass(frozen=True)
class Transcript(Event):
    type: ClassVar[str] = "transcript"
    text: str = ""
    language: str = "en"
    audio_seconds: float = 0.0
    # A closed grammar's decode (edge/asr/onnx/constrained.py), when the bundle carries one: the
    # intent and declared slot values it read ("" / {} when it rejected the speech or had none), and
    # {"accepted", "text", "cost_per_token"} for the trace
    intent: str = ""
    slots: dict[str, str] = field(default_factory=dict)
    grammar: dict[str, Any] | None = None


@dataclass(frozen=True)
class IntentResult(Event):
    type: ClassVar[str] = "intent"
    text: str = ""  # the normalised utterance the model saw
    intent: str = ""
    confidence: float = 0.0  # calibrated probability of `intent`
    slots: dict[str, str] = field(default_factory=dict)
    out_of_scope: bool = False
    alternatives: list[tuple[str, float]] = field(default_factory=list)  # next best intents
    # the best in-scope intent's calibrated logit minus the out-of-scope intent's (edge.nlu.oos): how
    # surely the request is for the device; None when the bundle has no out-of-scope intent
    oos_margin: float | None = None
    # slot snapping (edge/nlu/snap.py): slot name -> the span the model tagged, for each slot whose value
    # was replaced by a declared one or dropped; `unsure_slots` names the dropped ones
    raw_slots: dict[str, str] = field(default_factory=dict)
    unsure_slots: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Reply(Event):
    type: ClassVar[str] = "reply"
    text: str = ""
    route: str = "local"  # local | cloud | offline
    skill: str = ""


@dataclass(frozen=True)
class Card(Event):
    """A rich answer for a screen. All text is untrusted and is sanitised before display."""

    type: ClassVar[str] = "card"
    title: str = ""
    body: str = ""  # markdown
    image_url: str | None = None
    table: list[list[str]] = field(default_factory=list)  # first row is the header
    items: list[str] = field(default_factory=list)
    chart: dict[str, Any] = field(default_factory=dict)  # {"kind": "bar"|"line", "labels": [...], "values": [...], "unit": ""}
    image: bytes = b""  # PNG, JPEG, GIF or WebP bytes (base64 in JSON); shown instead of image_url


@dataclass(frozen=True)
class Error(Event):
    type: ClassVar[str] = "error"
    text: str = ""  # what went wrong and how to fix it, one line
    code: str = ""  # machine-readable, e.g. "bad-audio", "asr-failed"


EVENT_TYPES: dict[str, type[Event]] = {
    cls.type: cls
    for cls in (AudioStart, AudioChunk, AudioStop, Detection, Transcript, IntentResult, Reply, Card, Error)
}


def encode_event(event: Event) -> str:
    """One JSON line (without the newline) for `event`."""
    data = {}
    for item in dataclasses.fields(event):
        value = getattr(event, item.name)
        data[item.name] = base64.b64encode(value).decode("ascii") if isinstance(value, bytes) else value
    return json.dumps({"type": event.type, "data": data}, ensure_ascii=False, separators=(",", ":"))


def decode_event(line: str | bytes) -> Event:
    """Parse one JSON line into its event; raise EventDecodeError on anything else."""
    try:
        message = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise EventDecodeError(f"not JSON: {error}") from error
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise EventDecodeError("an event must be a JSON object with a string 'type'")
    event_class = EVENT_TYPES.get(message["type"])
    if event_class is None:
        raise EventDecodeError(f"unknown event type {message['type']!r}")
    data = message.get("data", {})
    if not isinstance(data, dict):
        raise EventDecodeError(f"{message['type']}: 'data' must be an object")
    return _build(event_class, data)


def _build(event_class: type[Event], data: dict[str, Any]) -> Event:
    hints = typing.get_type_hints(event_class)
    values: dict[str, Any] = {}
    for item in dataclasses.fields(event_class):
        if item.name not in data:
            continue
        value = data[item.name]
        wanted = hints[item.name]
        if wanted is bytes:
            if not isinstance(value, str):
                raise EventDecodeError(f"{event_class.type}.{item.name} must be base64 text")
            try:
                value = base64.b64decode(value, validate=True)
            except binascii.Error as error:
                raise EventDecodeError(f"{event_class.type}.{item.name} is not valid base64") from error
        elif not _matches(value, wanted):
            raise EventDecodeError(f"{event_class.type}.{item.name} has the wrong type: {value!r:.60}")
        if wanted == list[tuple[str, float]]:
            value = [tuple(pair) for pair in value]
        values[item.name] = value
    unknown = set(data) - {item.name for item in dataclasses.fields(event_class)}
    if unknown:
        raise EventDecodeError(f"{event_class.type} has unknown fields: {', '.join(sorted(unknown))}")
    return event_class(**values)


def _matches(value: Any, wanted: Any) -> bool:
    """A shallow type check good enough for the field types used above."""
    origin = typing.get_origin(wanted)
    if origin is typing.Union or origin is types.UnionType:
        return any(_matches(value, option) for option in typing.get_args(wanted))
    if wanted is type(None):
        return value is None
    if wanted is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if wanted is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin is list:
        return isinstance(value, list)
    if origin is dict:
        return isinstance(value, dict)
    if wanted is Any:
        return True
    return isinstance(value, wanted)
