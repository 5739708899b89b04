"""Speaking replies: `SpokenReply` turns a reply (or a streamed answer, piece by piece) into audio.

The text is cut by the one chunker (edge/tts/chunking.py). `answer_card` makes a card of a long or
structured answer; its text stays untrusted (the cast sanitizer cleans it).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from edge.core.events import Card, Error
from edge.tts.chunking import reply_pieces, speakable
from edge.tts.piper import PiperTts, SpeechAudio

logger = logging.getLogger(__name__)

_LIST_LINE = re.compile(r"^\s*(?:\d+[.)]|[-*•])\s+(.+)$", re.MULTILINE)
_TABLE_LINE = re.compile(r"^\s*\|.*\|\s*$", re.MULTILINE)


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
    """Audio of one reply, made piece by piece; a TTS failure is kept as an Error, not raised.

    Each text is cut by the one chunker (`reply_pieces`), so the first audio is short to make;
    `on_piece` gets every piece as soon as it exists (the live loop plays it while the next is
    made), and once `interrupted` is set (barge-in) no further piece is made. With no voice
    (`tts` None: a text-only front end) nothing is synthesized.
    """

    tts: PiperTts | None
    on_first_audio: Callable[[], object] | None = None  # called once, when the first audio is ready
    on_piece: Callable[[SpeechAudio], None] | None = None
    interrupted: threading.Event | None = None
    pieces: list[np.ndarray] = field(default_factory=list)
    chars: int = 0
    error: Error | None = None

    def say(self, text: str, from_markdown: bool = True) -> bool:
        """Synthesize `text` (an LLM's markdown is made plain first); True if audio was produced."""
        text = speakable(text) if from_markdown else text.strip()
        if not text or self.error is not None:
            return False
        self.chars += len(text)
        if self.tts is None:
            return True  # a text-only front end: the words count as said
        produced = False
        try:
            for piece_text in reply_pieces(text):
                for piece in self.tts.synthesize(piece_text):
                    if self.interrupted is not None and self.interrupted.is_set():
                        return produced
                    if not self.pieces and self.on_first_audio is not None:
                        self.on_first_audio()
                    self.pieces.append(piece.samples)
                    produced = True
                    if self.on_piece is not None:
                        self.on_piece(piece)
        except Exception as error:  # piper and onnxruntime raise many types
            logger.exception("TTS failed")
            self.error = Error(text=f"speech synthesis failed: {error}", code="tts-failed")
        return produced

    def audio(self) -> SpeechAudio:
        samples = np.concatenate(self.pieces) if self.pieces else np.zeros(0, np.int16)
        return SpeechAudio(samples, self.tts.sample_rate if self.tts is not None else 22050)
