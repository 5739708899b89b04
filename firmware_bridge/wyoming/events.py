"""Typed Wyoming events: one small frozen dataclass per event type, as in the `wyoming` package.

`event.to_frame()` gives the frame (data keys in the order and with the omissions `wyoming`
uses, so the bytes match); `decode_event(frame)` gives the typed event, or the frame itself
for a type this module does not know (peers must drop unknown events, not fail on them).
A known event with missing or mistyped fields raises `EventFormatError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from firmware_bridge.wyoming.framing import Frame
from firmware_bridge.wyoming.schema import EventFormatError, WyomingEvent

PIPELINE_STAGES = ("wake", "asr", "intent", "handle", "tts")
_STAGE_ORDER = {stage: index for index, stage in enumerate(PIPELINE_STAGES)}


# --- audio -------------------------------------------------------------------------------


def _check_format(event: AudioStart | AudioChunk) -> None:
    if not 1000 <= event.rate <= 384000 or event.width not in (1, 2, 3, 4) or not 1 <= event.channels <= 16:
        raise EventFormatError(
            f"{event.type}: unusable audio format rate={event.rate} Hz, width={event.width} bytes, "
            f"channels={event.channels}; send 16000 Hz, width 2, 1 channel"
        )


@dataclass(frozen=True)
class AudioStart(WyomingEvent):
    type: ClassVar[str] = "audio-start"
    keep_none: ClassVar[frozenset[str]] = frozenset({"timestamp"})
    rate: int = 16000  # hertz
    width: int = 2  # bytes per sample
    channels: int = 1
    timestamp: int | None = None  # milliseconds

    def __post_init__(self) -> None:
        _check_format(self)


@dataclass(frozen=True)
class AudioChunk(WyomingEvent):
    type: ClassVar[str] = "audio-chunk"
    keep_none: ClassVar[frozenset[str]] = frozenset({"timestamp"})
    payload_field: ClassVar[str] = "audio"
    rate: int = 16000  # hertz
    width: int = 2  # bytes per sample
    channels: int = 1
    timestamp: int | None = None  # milliseconds
    audio: bytes = b""  # little-endian PCM

    def __post_init__(self) -> None:
        _check_format(self)


@dataclass(frozen=True)
class AudioStop(WyomingEvent):
    type: ClassVar[str] = "audio-stop"
    keep_none: ClassVar[frozenset[str]] = frozenset({"timestamp"})
    timestamp: int | None = None  # milliseconds


# --- info, ping, errors --------------------------------------------------------------------


@dataclass(frozen=True)
class Describe(WyomingEvent):
    type: ClassVar[str] = "describe"


@dataclass(frozen=True)
class Info(WyomingEvent):
    """What a service offers: lists of program descriptions per domain (see `firmware_bridge.info`)."""

    type: ClassVar[str] = "info"
    asr: list[dict[str, Any]] = field(default_factory=list)
    tts: list[dict[str, Any]] = field(default_factory=list)
    handle: list[dict[str, Any]] = field(default_factory=list)
    intent: list[dict[str, Any]] = field(default_factory=list)
    wake: list[dict[str, Any]] = field(default_factory=list)
    mic: list[dict[str, Any]] = field(default_factory=list)
    snd: list[dict[str, Any]] = field(default_factory=list)
    satellite: dict[str, Any] | None = None  # present when the sender is a satellite


@dataclass(frozen=True)
class Ping(WyomingEvent):
    type: ClassVar[str] = "ping"
    keep_none: ClassVar[frozenset[str]] = frozenset({"text"})
    text: str | None = None


@dataclass(frozen=True)
class Pong(WyomingEvent):
    type: ClassVar[str] = "pong"
    keep_none: ClassVar[frozenset[str]] = frozenset({"text"})
    text: str | None = None


@dataclass(frozen=True)
class Error(WyomingEvent):
    type: ClassVar[str] = "error"
    text: str  # what went wrong and how to fix it
    code: str | None = None  # machine-readable


# --- speech to text, text to speech ------------------------------------------------------------


@dataclass(frozen=True)
class Transcribe(WyomingEvent):
    type: ClassVar[str] = "transcribe"
    name: str | None = None  # ASR model
    language: str | None = None
    context: dict[str, Any] | None = None


@dataclass(frozen=True)
class Transcript(WyomingEvent):
    type: ClassVar[str] = "transcript"
    text: str
    language: str | None = None
    context: dict[str, Any] | None = None


@dataclass(frozen=True)
class Synthesize(WyomingEvent):
    type: ClassVar[str] = "synthesize"
    text: str
    voice: dict[str, Any] | None = None  # {"name": …, "speaker": …} or {"language": …}
    text_format: str | None = None
    context: dict[str, Any] | None = None


# --- wake word, voice activity -------------------------------------------------------------------


@dataclass(frozen=True)
class Detect(WyomingEvent):
    type: ClassVar[str] = "detect"
    keep_none: ClassVar[frozenset[str]] = frozenset({"names"})
    names: list[str] | None = None
    context: dict[str, Any] | None = None


@dataclass(frozen=True)
class Detection(WyomingEvent):
    type: ClassVar[str] = "detection"
    keep_none: ClassVar[frozenset[str]] = frozenset({"name", "timestamp", "speaker"})
    name: str | None = None
    timestamp: int | None = None  # milliseconds
    speaker: str | None = None
    context: dict[str, Any] | None = None


@dataclass(frozen=True)
class VoiceStarted(WyomingEvent):
    type: ClassVar[str] = "voice-started"
    keep_none: ClassVar[frozenset[str]] = frozenset({"timestamp"})
    timestamp: int | None = None  # milliseconds


@dataclass(frozen=True)
class VoiceStopped(WyomingEvent):
    type: ClassVar[str] = "voice-stopped"
    keep_none: ClassVar[frozenset[str]] = frozenset({"timestamp"})
    timestamp: int | None = None  # milliseconds


# --- intent recognition and handling -------------------------------------------------------------


@dataclass(frozen=True)
class Recognize(WyomingEvent):
    type: ClassVar[str] = "recognize"
    text: str
    context: dict[str, Any] | None = None


@dataclass(frozen=True)
class Intent(WyomingEvent):
    type: ClassVar[str] = "intent"
    drop_empty: ClassVar[frozenset[str]] = frozenset({"entities"})
    name: str
    entities: list[dict[str, Any]] = field(default_factory=list)  # [{"name": slot, "value": text}]
    text: str | None = None
    context: dict[str, Any] | None = None


@dataclass(frozen=True)
class NotRecognized(WyomingEvent):
    type: ClassVar[str] = "not-recognized"
    text: str | None = None
    context: dict[str, Any] | None = None


@dataclass(frozen=True)
class Handled(WyomingEvent):
    type: ClassVar[str] = "handled"
    text: str | None = None
    context: dict[str, Any] | None = None


@dataclass(frozen=True)
class NotHandled(WyomingEvent):
    type: ClassVar[str] = "not-handled"
    text: str | None = None
    context: dict[str, Any] | None = None


# --- satellites and pipelines ---------------------------------------------------------------------


@dataclass(frozen=True)
class RunSatellite(WyomingEvent):
    type: ClassVar[str] = "run-satellite"


@dataclass(frozen=True)
class PauseSatellite(WyomingEvent):
    type: ClassVar[str] = "pause-satellite"


@dataclass(frozen=True)
class StreamingStarted(WyomingEvent):
    type: ClassVar[str] = "streaming-started"


@dataclass(frozen=True)
class StreamingStopped(WyomingEvent):
    type: ClassVar[str] = "streaming-stopped"


@dataclass(frozen=True)
class Played(WyomingEvent):
    type: ClassVar[str] = "played"


@dataclass(frozen=True)
class RunPipeline(WyomingEvent):
    type: ClassVar[str] = "run-pipeline"
    drop_empty: ClassVar[frozenset[str]] = frozenset({"wake_word_names"})
    start_stage: str
    end_stage: str
    restart_on_end: bool = False
    wake_word_name: str | None = None
    wake_word_names: list[str] | None = None
    announce_text: str | None = None

    def __post_init__(self) -> None:
        stages = ", ".join(PIPELINE_STAGES)
        if self.start_stage not in _STAGE_ORDER or self.end_stage not in _STAGE_ORDER:
            raise EventFormatError(f"run-pipeline: stages must be among {stages}")
        if _STAGE_ORDER[self.end_stage] < _STAGE_ORDER[self.start_stage]:
            raise EventFormatError(f"run-pipeline: end stage {self.end_stage} comes before start stage {self.start_stage}")


EVENT_TYPES: dict[str, type[WyomingEvent]] = {
    cls.type: cls
    for cls in (
        AudioStart, AudioChunk, AudioStop, Describe, Info, Ping, Pong, Error, Transcribe, Transcript, Synthesize,
        Detect, Detection, VoiceStarted, VoiceStopped, Recognize, Intent, NotRecognized, Handled, NotHandled,
        RunSatellite, PauseSatellite, StreamingStarted, StreamingStopped, Played, RunPipeline,
    )
}


def decode_event(frame: Frame) -> WyomingEvent | Frame:
    """The typed event for a frame; unknown types come back as the frame itself."""
    event_class = EVENT_TYPES.get(frame.type)
    if event_class is None:
        return frame
    return event_class.from_frame(frame)
