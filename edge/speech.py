"""Speaking replies: whole texts, and streamed answers piece by piece as they arrive.

`SpeechChunker` cuts streamed text into pieces worth speaking: the first piece as soon as a
clause is complete (so the first audio comes early), later pieces at sentence ends (so the voice
keeps its prosody). `speakable` turns markdown into plain words for TTS. `answer_card` makes a
card of a long or structured answer; its text stays untrusted (the cast sanitizer cleans it).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from edge.events import Card, Error
from edge.tts import PiperTts, SpeechAudio

logger = logging.getLogger(__name__)

_SENTENCE_END = re.compile(r"[.!?…]+[\"')\]]*\s+|\n+")
_CLAUSE_END = re.compile(r"[,;:]\s+|\s[–—-]\s+")
_WORD = re.compile(r"\S+\s+")
_LIST_MARKER = re.compile(r"^\s*(?:\d+[.)]|[a-z][.)]|[-*•])\s*$")
_LIST_LINE = re.compile(r"^\s*(?:\d+[.)]|[-*•])\s+(.+)$", re.MULTILINE)
_TABLE_LINE = re.compile(r"^\s*\|.*\|\s*$", re.MULTILINE)
_URL = re.compile(r"https?://\S+")


class SpeechChunker:
    """Streamed text in, speakable pieces out.

    The first piece is cut at the first sentence or clause end (after `first_min_words`), after
    `first_max_words` words, or, once `first_wait_seconds` have passed since the first text, after
    the last complete word that has arrived, so a slow model still starts speaking early. Later
    pieces end at sentence ends (or line breaks), for the voice's prosody.
    """

    def __init__(self, first_wait_seconds: float = 0.05, first_min_words: int = 3, first_max_words: int = 6,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self._buffer = ""
        self._spoke = False
        self._first_at: float | None = None
        self._first_wait_seconds = first_wait_seconds
        self._first_min_words = first_min_words
        self._first_max_words = first_max_words
        self._clock = clock

    def feed(self, text: str) -> list[str]:
        """Add streamed text ("" just lets time pass); return the pieces now ready to speak."""
        if text and self._first_at is None:
            self._first_at = self._clock()
        self._buffer += text
        pieces: list[str] = []
        while (cut := self._cut()) is not None:
            piece, self._buffer = self._buffer[:cut].strip(), self._buffer[cut:]
            if piece:
                pieces.append(piece)
                self._spoke = True
            elif cut == 0:
                break
        return pieces

    def flush(self) -> str:
        piece, self._buffer = self._buffer.strip(), ""
        return piece

    def _cut(self) -> int | None:
        for match in _SENTENCE_END.finditer(self._buffer):
            if not _LIST_MARKER.match(self._buffer[: match.end()].rsplit("\n", 1)[-1]):
                return match.end()
        if self._spoke:
            return None
        for match in _CLAUSE_END.finditer(self._buffer):
            if len(self._buffer[: match.start()].split()) >= self._first_min_words:
                return match.end()
        words = list(_WORD.finditer(self._buffer))  # complete words: followed by a space
        if len(words) >= self._first_max_words:
            return words[self._first_max_words - 1].end()
        waited = self._first_at is not None and self._clock() - self._first_at >= self._first_wait_seconds
        if words and waited:
            return words[-1].end()
        return None


def speakable(text: str) -> str:
    """Markdown and links out, plain words in: what a voice should read aloud."""
    text = _URL.sub("a link", text)
    text = re.sub(r"^\s*#+\s*", "", text, flags=re.MULTILINE)
    text = re.sub(r"^\s*(?:\d+[.)]|[-*•])\s+", "", text, flags=re.MULTILINE)
    text = re.sub(r"[*_`#>]+", "", text)
    text = re.sub(r"\s*\|\s*", ", ", text).strip(", ")
    return " ".join(text.split())


def is_structured(text: str) -> bool:
    return len(_LIST_LINE.findall(text)) >= 2 or len(_TABLE_LINE.findall(text)) >= 2


def answer_card(question: str, answer: str, spoken_max_chars: int) -> Card | None:
    """A card for a long or structured answer; None when speaking it says it all."""
    if not answer.strip() or (len(answer) <= spoken_max_chars and not is_structured(answer)):
        return None
    title = " ".join(question.split())
    title = title if len(title) <= 80 else title[:79] + "…"
    items = [re.sub(r"\*\*|__|`", "", item).strip() for item in _LIST_LINE.findall(answer)][:50]  # plain text items
    table = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in _TABLE_LINE.findall(answer)
        if not re.fullmatch(r"[\s|:-]+", line)
    ][:50]
    return Card(title=title, body=answer, items=items, table=table)


@dataclass
class SpokenReply:
    """Audio of one reply, built piece by piece; a TTS failure is kept as an Error, not raised."""

    tts: PiperTts
    on_first_audio: Callable[[], object] | None = None  # called once, when the first audio is ready
    pieces: list[np.ndarray] = field(default_factory=list)
    chars: int = 0
    error: Error | None = None

    def say(self, text: str, from_markdown: bool = True) -> bool:
        """Synthesize `text` (an LLM's markdown is made plain first); True if audio was produced."""
        text = speakable(text) if from_markdown else text.strip()
        if not text or self.error is not None:
            return False
        produced = False
        try:
            for piece in self.tts.synthesize(text):
                if not self.pieces and self.on_first_audio is not None:
                    self.on_first_audio()
                self.pieces.append(piece.samples)
                produced = True
        except Exception as error:  # piper and onnxruntime raise many types
            logger.exception("TTS failed")
            self.error = Error(text=f"speech synthesis failed: {error}", code="tts-failed")
        self.chars += len(text)
        return produced

    def audio(self) -> SpeechAudio:
        samples = np.concatenate(self.pieces) if self.pieces else np.zeros(0, np.int16)
        return SpeechAudio(samples, self.tts.sample_rate)
