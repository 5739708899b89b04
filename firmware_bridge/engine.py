"""The loaded pipeline behind the bridge: every model call runs on a small pool of worker threads.

The event loop never runs inference. `TurnEngine` bounds the work waiting for a worker
(`max_pending_turns`): past it a request is refused with `EngineBusyError` instead of queueing
without end.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from edge.audio.wavio import RequestAudio
from edge.events import IntentResult, Transcript
from edge.pipeline import SILENCE_PEAK, Pipeline, TurnResult
from edge.skills.base import SkillReply, SkillRequest
from edge.tts import SpeechAudio

logger = logging.getLogger(__name__)

T = TypeVar("T")


class EngineBusyError(Exception):
    """Too many requests are waiting for inference; the peer should retry shortly."""


@dataclass(frozen=True)
class Understanding:
    intent: IntentResult
    reply: SkillReply
    handled: bool  # False when no skill answered (out of scope, or an intent without a skill)


class TurnEngine:
    def __init__(self, pipeline: Pipeline, workers: int = 1, max_pending: int = 32) -> None:
        self.pipeline = pipeline
        self._executor = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="bridge-inference")
        self._waiting = 0
        self._max_pending = max(1, max_pending)
        self.turns_run = 0

    @property
    def sample_rate(self) -> int:
        """Rate of reply audio (the TTS voice's)."""
        return self.pipeline.tts.sample_rate

    async def _run(self, function: Callable[..., T], *args: Any) -> T:
        if self._waiting >= self._max_pending:
            raise EngineBusyError(
                f"{self._waiting} requests are already waiting for inference; retry in a moment "
                "(or raise bridge.max_pending_turns / bridge.inference_workers)"
            )
        self._waiting += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, functools.partial(function, *args))
        finally:
            self._waiting -= 1

    async def run_turn(self, audio: RequestAudio) -> TurnResult:
        """A whole turn (ASR → intent → skill → TTS) with its trace."""
        result = await self._run(self.pipeline.run_audio, audio)
        self.turns_run += 1
        return result

    async def run_text_turn(self, text: str) -> TurnResult:
        result = await self._run(self.pipeline.run_text, text)
        self.turns_run += 1
        return result

    async def transcribe(self, samples: np.ndarray) -> Transcript:
        """Float32 mono 16 kHz to text; silence is "" (Whisper is not asked to invent words)."""
        if float(np.max(np.abs(samples), initial=0.0)) < SILENCE_PEAK:
            return Transcript(text="", audio_seconds=len(samples) / 16000)
        if self.pipeline.asr is None:
            raise RuntimeError("the pipeline was loaded without ASR; load it with Pipeline.load(settings, with_asr=True)")
        return await self._run(self.pipeline.asr.transcribe, samples, 16000)

    async def synthesize(self, text: str) -> SpeechAudio:
        return await self._run(self.pipeline.tts.synthesize_all, text)

    async def recognize(self, text: str) -> IntentResult:
        return await self._run(self.pipeline.nlu.predict, text)

    async def understand(self, text: str) -> Understanding:
        """Intent and skill reply for a text (the Wyoming `handle` service)."""
        return await self._run(self._understand, text)

    async def handle_intent(self, name: str, slots: dict[str, str], text: str) -> SkillReply:
        """Run the skill for an intent recognised elsewhere."""
        request = SkillRequest(intent=name, text=text.lower(), raw_text=text, slots=slots)
        return await self._run(self.pipeline.skills.handle, request)

    def _understand(self, text: str) -> Understanding:
        intent = self.pipeline.nlu.predict(text)
        name = self.pipeline.nlu.manifest.oos_label if intent.out_of_scope else intent.intent
        reply = self.pipeline.skills.handle(
            SkillRequest(intent=name, text=intent.text, raw_text=text, slots=dict(intent.slots))
        )
        handled = not intent.out_of_scope and self.pipeline.skills.skill_for(name) is not None
        return Understanding(intent, reply, handled)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
