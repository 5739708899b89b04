"""The one `Turn` behind the bridge: every model call runs on a small pool of worker threads.

The event loop never runs inference. `TurnEngine` bounds the work waiting for a worker
(`max_pending_turns`): past it a request is refused with `EngineBusyError` instead of queueing
without end. Every turn carries its session key (a satellite's name, or the Wyoming peer for
service requests), so satellites never share a conversation.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from edge.audio.wavio import RequestAudio
from edge.core.errors import EdgeError
from edge.core.events import IntentResult, Transcript
from edge.runtime.turn import Turn, TurnResult
from edge.skills.base import SkillReply
from edge.tts.piper import SpeechAudio

logger = logging.getLogger(__name__)

T = TypeVar("T")
NOT_SERVED = ("", "fallback", "apology")  # the `skill` of replies that only say the request was not served


class EngineBusyError(EdgeError):
    """Too many requests are waiting for inference; the peer should retry shortly."""


@dataclass(frozen=True)
class Understanding:
    """A text turn for the Wyoming `handle` service: its trace and whether the speaker could serve it."""

    result: TurnResult
    handled: bool  # False when nothing served it (no skill, out of scope with no LLM tier)

    @property
    def text(self) -> str:
        return self.result.trace.reply


class TurnEngine:
    def __init__(self, turn: Turn, workers: int = 1, max_pending: int = 32) -> None:
        self.turn = turn
        self._executor = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="bridge-inference")
        # Alerts are spoken on their own thread: a due timer must not wait behind queued turns (the
        # soak saw alarms ring a minute late behind an LLM that hung 12 s per turn).
        self._alert_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bridge-alerts")
        self._waiting = 0
        self._max_pending = max(1, max_pending)
        self.turns_run = 0

    @property
    def sample_rate(self) -> int:
        """Rate of reply audio (the TTS voice's)."""
        return self.turn.sample_rate

    async def _run(self, function: Callable[..., T], *args, **kwargs) -> T:
        if self._waiting >= self._max_pending:
            raise EngineBusyError(
                f"{self._waiting} requests are already waiting for inference; retry in a moment "
                "(or raise bridge.max_pending_turns / bridge.inference_workers)"
            )
        self._waiting += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, functools.partial(function, *args, **kwargs))
        finally:
            self._waiting -= 1

    async def run_turn(self, audio: RequestAudio, session: str, area: str = "") -> TurnResult:
        """A whole turn (ASR → intent → skill or LLM → TTS) of `session`, with its trace."""
        result = await self._run(self.turn.run_audio, audio, session, area)
        self.turns_run += 1
        return result

    async def run_text_turn(self, text: str, session: str, area: str = "") -> TurnResult:
        result = await self._run(self.turn.run_text, text, session, area)
        self.turns_run += 1
        return result

    async def transcribe(self, samples: np.ndarray) -> Transcript:
        """Float32 mono 16 kHz to text; silence is "" (Whisper is not asked to invent words)."""
        return await self._run(self.turn.transcribe, samples, 16000)

    async def synthesize(self, text: str) -> SpeechAudio:
        return await self._run(self.turn.synthesize, text)

    async def synthesize_alert(self, text: str) -> SpeechAudio:
        """Speech for a due alert, ahead of any turns waiting for a worker."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._alert_executor, self.turn.synthesize, text)

    async def recognize(self, text: str) -> IntentResult:
        return await self._run(self.turn.recognize, text)

    async def understand(self, text: str, session: str) -> Understanding:
        """The Wyoming `handle` service: a whole text turn of `session` (routed, escalated when unsure)."""
        result = await self.run_text_turn(text, session)
        trace = result.trace
        handled = trace.error is None and trace.skill not in NOT_SERVED
        return Understanding(result, handled)

    async def handle_intent(self, name: str, slots: dict[str, str], text: str, session: str) -> SkillReply:
        """Run the skill for an intent recognised elsewhere."""
        return await self._run(self.turn.handle_intent, name, slots, text, session)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._alert_executor.shutdown(wait=False, cancel_futures=True)
