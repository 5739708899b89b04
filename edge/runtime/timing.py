"""Where a turn's time went: milestones in ms after the end of the request, and the stage durations.

    clock = TurnClock()                 # at the end of speech (or when the text arrived)
    clock.mark("asr_done")
    stage_durations(clock.marks)        # {"asr": 412.3, "nlu": 1.6, ...}
"""

from __future__ import annotations

import time


class TurnClock:
    """Milliseconds since the end of the request (end of speech, or the text arriving)."""

    def __init__(self) -> None:
        self._start = time.perf_counter()
        self.marks: dict[str, float] = {"end_of_speech": 0.0}

    def mark(self, name: str, at: float | None = None) -> float:
        """Record `name` now, or at `at` (a time.perf_counter() value)."""
        self.marks[name] = round(((time.perf_counter() if at is None else at) - self._start) * 1000, 2)
        return self.marks[name]


_STAGES = (
    ("asr", "end_of_speech", "asr_done"), ("nlu", "asr_done", "nlu_done"), ("skill", "nlu_done", "skill_done"),
    ("tts", "skill_done", "reply_audio_done"), ("llm_first_token", "nlu_done", "llm_first_token"),
    ("first_token_to_first_audio", "llm_first_token", "first_reply_audio"), ("llm_answer", "nlu_done", "llm_done"),
    ("first_piece_wait", "llm_first_token", "first_piece_ready"), ("first_piece_tts", "first_piece_ready", "first_reply_audio"),
)


def stage_durations(marks: dict[str, float]) -> dict[str, float]:
    durations = {name: round(marks[end] - marks[start], 2) for name, start, end in _STAGES if start in marks and end in marks}
    if "first_reply_audio" in marks:
        durations["end_of_speech_to_first_audio"] = marks["first_reply_audio"]
    return durations
