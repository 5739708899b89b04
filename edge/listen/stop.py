"""Hearing "stop" without the wake word, while the speaker talks or plays music.

    listener = StopListener(settings.stop, vad.stream(), lambda samples: turn.transcribe(samples).text)
    heard = listener.feed(frame)          # per 16 kHz int16 frame, only while something plays
    heard.word                            # "stop", "pause", "be quiet"...

Silero VAD marks short bursts of speech; a burst between `stop.min_seconds` and `stop.max_seconds`
long, once `stop.silence_seconds` of silence has followed it, is transcribed (by the runtime's
Whisper, handed in as a callable, so this module needs no ASR) and compared, whole, with the stop
words: the transcript must be one of them, or one repeated ("stop, stop!"). A sentence that
merely contains "stop" ("don't stop the music") is not a stop. Longer speech is never transcribed,
so an hour of talk or lyrics costs the VAD only. docs/live.md has the measured detection rate.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from edge.core.settings import StopSettings
from edge.core.text.normalize import normalize_utterance
from edge.listen.vad import SAMPLE_RATE, WINDOW, VadStream

PRE_ROLL_SECONDS = 0.3  # audio kept from before the burst (the VAD starts late on a soft onset)
Transcriber = Callable[[np.ndarray], str]  # float32 mono 16 kHz -> text


@dataclass(frozen=True)
class StopWord:
    word: str  # the stop word it matched
    transcript: str  # what Whisper heard
    speech_seconds: float  # length of the burst
    ended_at_seconds: float  # where the burst's speech ended, in seconds of audio fed
    decided_at_seconds: float  # where the decision was made (after the silence), same clock
    asr_ms: float  # the transcription's wall time


def stop_phrases(setting: str) -> set[str]:
    return {normalize_utterance(word) for word in setting.split(",") if normalize_utterance(word)}


def match_stop(transcript: str, phrases: set[str]) -> str | None:
    """The stop word `transcript` is, whole (or repeated: 'stop stop'); None when it is anything else."""
    text = normalize_utterance(transcript)
    if text in phrases:
        return text
    for phrase in phrases:
        if text and re.fullmatch(rf"(?:{re.escape(phrase)} ?)+", text):
            return phrase
    return None


class StopListener:
    def __init__(self, settings: StopSettings, vad: VadStream, transcribe: Transcriber) -> None:
        self.settings = settings
        self.phrases = stop_phrases(settings.words)
        self._vad = vad
        self._transcribe = transcribe
        self._keep = int((settings.max_seconds + settings.silence_seconds + PRE_ROLL_SECONDS + 1.0) * SAMPLE_RATE)
        self.transcribed = 0  # bursts sent to ASR (for benchmarks)
        self.last_transcript = ""  # what the last burst was heard as (for logs and tests)
        self.reset()

    def reset(self) -> None:
        """Forget the audio and the VAD state (call when playback starts again after a pause)."""
        self._vad.reset()
        self._audio = np.zeros(0, np.float32)
        self._audio_start = 0  # sample index (of all audio fed) of self._audio[0]
        self._fed = 0  # samples fed
        self._windows = 0  # VAD windows decided
        self._burst_start: int | None = None  # sample index where the current burst's speech began
        self._last_speech = 0  # sample index where the last speech window ended
        self._speech_run = 0  # consecutive speech windows

    def feed(self, frame: np.ndarray) -> StopWord | None:
        self._audio = np.concatenate([self._audio, frame.astype(np.float32) / 32768.0])
        self._fed += len(frame)
        if len(self._audio) > self._keep:
            cut = len(self._audio) - self._keep
            self._audio, self._audio_start = self._audio[cut:], self._audio_start + cut
        heard = None
        for probability in self._vad.feed(frame):
            self._windows += 1
            heard = heard or self._window(probability >= self.settings.threshold)
        return heard

    def _window(self, speech: bool) -> StopWord | None:
        end = self._windows * WINDOW  # sample index where this window ends
        if speech:
            self._speech_run += 1
            self._last_speech = end
            if self._burst_start is None and self._speech_run * WINDOW >= self.settings.min_seconds * SAMPLE_RATE:
                self._burst_start = end - self._speech_run * WINDOW
            return None
        self._speech_run = 0
        if self._burst_start is None or end - self._last_speech < self.settings.silence_seconds * SAMPLE_RATE:
            return None
        start, self._burst_start = self._burst_start, None
        if self._last_speech - start > self.settings.max_seconds * SAMPLE_RATE:
            return None  # a sentence, not a stop word
        return self._check(start, self._last_speech, end)

    def _check(self, start: int, speech_end: int, now: int) -> StopWord | None:
        # the silence after the word is kept too: the VAD calls a final "p" silence, Whisper needs it
        first = max(self._audio_start, start - int(PRE_ROLL_SECONDS * SAMPLE_RATE))
        samples = self._audio[first - self._audio_start : min(self._fed, now) - self._audio_start]
        began = time.perf_counter()
        transcript = self._transcribe(samples)
        asr_ms = (time.perf_counter() - began) * 1000
        self.transcribed += 1
        self.last_transcript = transcript
        word = match_stop(transcript, self.phrases)
        if word is None:
            return None
        return StopWord(word, transcript, round((speech_end - start) / SAMPLE_RATE, 3), round(speech_end / SAMPLE_RATE, 3),
                        round(now / SAMPLE_RATE, 3), round(asr_ms, 1))
