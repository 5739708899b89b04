"""One turn: audio or text in, spoken reply out, with a trace of what happened and when.

The stages are blocking calls into loaded models; an async caller runs `Pipeline.run_*` in a
worker thread (`await asyncio.to_thread(pipeline.run_audio, audio)`). A failing stage never
escapes: it becomes an `Error` event, a spoken apology and an `error` entry in the trace.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge.asr import WhisperAsr
from edge.audio.wavio import AudioInputError, RequestAudio, read_request_audio
from edge.events import Card, Error, Event, IntentResult, Reply, Transcript
from edge.nlu.runtime import IntentModel
from edge.settings import Settings
from edge.skills import SkillRegistry, builtin_skills
from edge.skills.base import SkillRequest
from edge.tts import PiperTts, SpeechAudio

logger = logging.getLogger(__name__)

SILENCE_PEAK = 10 ** (-60 / 20)  # full-scale fraction: quieter than -60 dBFS everywhere is silence
APOLOGY = "Sorry, something went wrong. Please try again."
NOT_HEARD = "Sorry, I didn't catch that."


@dataclass
class TurnResult:
    """Everything one turn produced. `trace` is the JSON turn trace of DESIGN.md."""

    trace: dict[str, Any]
    events: list[Event] = field(default_factory=list)
    reply_audio: SpeechAudio | None = None

    @property
    def error(self) -> Error | None:
        return next((event for event in self.events if isinstance(event, Error)), None)


class _TurnClock:
    """Milliseconds since the end of the request (end of speech, or the text arriving)."""

    def __init__(self) -> None:
        self._start = time.perf_counter()
        self.marks: dict[str, float] = {"end_of_speech": 0.0}

    def mark(self, name: str) -> float:
        self.marks[name] = round((time.perf_counter() - self._start) * 1000, 2)
        return self.marks[name]


class Pipeline:
    """The on-device turn: ASR → intent → skill → TTS. Models are loaded once, here."""

    def __init__(self, settings: Settings, asr: WhisperAsr | None, nlu: IntentModel, skills: SkillRegistry, tts: PiperTts):
        self.settings = settings
        self.asr = asr
        self.nlu = nlu
        self.skills = skills
        self.tts = tts

    @classmethod
    def load(cls, settings: Settings, with_asr: bool = True, clock: Callable | None = None) -> Pipeline:
        asr = WhisperAsr(settings.asr) if with_asr else None
        skills = SkillRegistry(builtin_skills(settings.skills, clock=clock))
        return cls(settings, asr, IntentModel.load(settings.nlu), skills, PiperTts(settings.tts))

    def close(self) -> None:
        self.skills.close()

    def run_wav(self, path: Path) -> TurnResult:
        """A turn from an audio file; unreadable audio gives a trace with an error, not an exception."""
        audio_settings = self.settings.audio
        try:
            audio = read_request_audio(
                path, audio_settings.sample_rate, audio_settings.max_request_seconds, audio_settings.min_request_seconds
            )
        except AudioInputError as error:
            return self.failed_turn({"input": str(path)}, Error(text=str(error), code="bad-audio"))
        result = self.run_audio(audio)
        result.trace["input"] = str(path)
        if audio.truncated:
            result.trace["warnings"] = [f"input cut to {audio_settings.max_request_seconds:g} s"]
        return result

    def run_audio(self, audio: RequestAudio) -> TurnResult:
        if self.asr is None:
            raise RuntimeError("this pipeline was loaded without ASR; use Pipeline.load(settings, with_asr=True)")
        clock = _TurnClock()
        if float(np.max(np.abs(audio.samples), initial=0.0)) < SILENCE_PEAK:
            # Whisper invents words ("Thank you.") for silence; there is nothing to hear.
            clock.mark("asr_done")
            return self._understand_and_answer(Transcript(text="", audio_seconds=audio.seconds), clock)
        try:
            transcript = self.asr.transcribe(audio.samples, audio.sample_rate)
        except Exception as error:  # a failing engine must not end the runtime
            logger.exception("ASR failed")
            return self.failed_turn({}, Error(text=f"speech recognition failed: {error}", code="asr-failed"), clock)
        clock.mark("asr_done")
        return self._understand_and_answer(transcript, clock)

    def run_text(self, text: str) -> TurnResult:
        clock = _TurnClock()
        clock.mark("asr_done")
        return self._understand_and_answer(Transcript(text=text), clock)

    def _understand_and_answer(self, transcript: Transcript, clock: _TurnClock) -> TurnResult:
        events: list[Event] = [transcript]
        if not transcript.text.strip():
            reply = Reply(text=NOT_HEARD, route="local", skill="")
            return self._speak({"transcript": ""}, events, reply, None, clock)
        try:
            intent = self.nlu.predict(transcript.text)
        except Exception as error:
            logger.exception("intent model failed")
            return self.failed_turn({"transcript": transcript.text}, Error(text=f"intent model failed: {error}", code="nlu-failed"), clock, events)
        clock.mark("nlu_done")
        events.append(intent)
        skill_reply = self.skills.handle(
            SkillRequest(
                intent=self.nlu.manifest.oos_label if intent.out_of_scope else intent.intent,
                text=intent.text,
                raw_text=transcript.text,
                slots=dict(intent.slots),
            )
        )
        clock.mark("skill_done")
        reply = Reply(text=skill_reply.text, route="local", skill=skill_reply.skill)
        card = Card(**skill_reply.card) if skill_reply.card else None
        return self._speak(_intent_trace(transcript, intent), events, reply, card, clock)

    def _speak(self, trace: dict[str, Any], events: list[Event], reply: Reply, card: Card | None, clock: _TurnClock) -> TurnResult:
        events.append(reply)
        if card is not None:
            events.append(card)
        pieces: list[np.ndarray] = []
        try:
            for piece in self.tts.synthesize(reply.text):
                if not pieces:
                    clock.mark("first_reply_audio")
                pieces.append(piece.samples)
        except Exception as error:
            logger.exception("TTS failed")
            events.append(Error(text=f"speech synthesis failed: {error}", code="tts-failed"))
        clock.mark("reply_audio_done")
        audio = SpeechAudio(np.concatenate(pieces) if pieces else np.zeros(0, np.int16), self.tts.sample_rate)
        trace.update(
            route=reply.route,
            skill=reply.skill,
            reply=reply.text,
            card=None if card is None else {"title": card.title},
            reply_audio_seconds=round(len(audio.samples) / audio.sample_rate, 3),
            timestamps_ms=clock.marks,
            stages_ms=_stage_durations(clock.marks),
        )
        error = next((event for event in events if isinstance(event, Error)), None)
        if error is not None:
            trace["error"] = {"code": error.code, "text": error.text}
        return TurnResult(trace=trace, events=events, reply_audio=audio)

    def failed_turn(self, trace: dict[str, Any], error: Error, clock: _TurnClock | None = None, events: list[Event] | None = None) -> TurnResult:
        """A turn that could not run (bad input, a failed stage): the apology is spoken, the error traced."""
        logger.warning("turn failed: %s", error.text)
        events = [*(events or []), error]
        return self._speak({"transcript": trace.pop("transcript", None), **trace}, events, Reply(text=APOLOGY, route="local"), None, clock or _TurnClock())


def _intent_trace(transcript: Transcript, intent: IntentResult) -> dict[str, Any]:
    return {
        "transcript": transcript.text,
        "intent": intent.intent,
        "confidence": intent.confidence,
        "out_of_scope": intent.out_of_scope,
        "slots": intent.slots,
    }


_STAGES = (("asr", "end_of_speech", "asr_done"), ("nlu", "asr_done", "nlu_done"), ("skill", "nlu_done", "skill_done"), ("tts", "skill_done", "reply_audio_done"))


def _stage_durations(marks: dict[str, float]) -> dict[str, float]:
    durations = {name: round(marks[end] - marks[start], 2) for name, start, end in _STAGES if start in marks and end in marks}
    if "first_reply_audio" in marks:
        durations["end_of_speech_to_first_audio"] = marks["first_reply_audio"]
    return durations
