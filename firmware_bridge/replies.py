"""Turn results as the Wyoming events a satellite or a service client receives."""

from __future__ import annotations

import numpy as np

from edge.core.trace import TurnTrace
from edge.runtime.turn import TurnResult
from firmware_bridge.pcm import int16_chunks
from firmware_bridge.wyoming.events import (
    AudioChunk,
    AudioStart,
    AudioStop,
    Error,
    Handled,
    Intent,
    NotHandled,
    NotRecognized,
    Synthesize,
    Transcript,
    WyomingEvent,
)

VOICE_NAME = "en_US-joe-medium"
NOT_HANDLED_SKILLS = (None, "", "fallback", "apology")  # replies that only say the request was not served


def speech_events(samples: np.ndarray, sample_rate: int, samples_per_chunk: int) -> list[WyomingEvent]:
    """audio-start, audio-chunk…, audio-stop for int16 mono speech, with millisecond timestamps."""
    events: list[WyomingEvent] = [AudioStart(rate=sample_rate, width=2, channels=1, timestamp=0)]
    sent = 0
    for chunk in int16_chunks(samples, samples_per_chunk):
        events.append(AudioChunk(rate=sample_rate, width=2, channels=1, timestamp=sent * 1000 // sample_rate, audio=chunk))
        sent += len(chunk) // 2
    events.append(AudioStop(timestamp=sent * 1000 // sample_rate))
    return events


def intent_event(trace: TurnTrace) -> Intent | NotRecognized:
    if not trace.intent or trace.out_of_scope:
        return NotRecognized(text=trace.transcript or "")
    entities = [{"name": name, "value": value} for name, value in (trace.slots or {}).items()]
    return Intent(name=trace.intent, entities=entities, text=trace.transcript)


def reply_events(result: TurnResult, end_stage: str, sample_rate: int, samples_per_chunk: int) -> list[WyomingEvent]:
    """What a satellite hears back for a turn that ran from asr to `end_stage`."""
    trace = result.trace
    events: list[WyomingEvent] = [Transcript(text=trace.transcript or "", language="en")]
    if trace.error is not None:
        events.append(Error(text=trace.error["text"], code=trace.error["code"]))
    if end_stage == "intent":
        events.append(intent_event(trace))
    elif end_stage == "handle":
        handled = trace.skill not in NOT_HANDLED_SKILLS and trace.error is None
        events.append((Handled if handled else NotHandled)(text=trace.reply))
    elif end_stage == "tts":
        events.append(Synthesize(text=trace.reply, voice={"name": VOICE_NAME}))
        audio = result.reply_audio
        samples = audio.samples if audio is not None else np.zeros(0, np.int16)
        events.extend(speech_events(samples, audio.sample_rate if audio is not None else sample_rate, samples_per_chunk))
    return events
