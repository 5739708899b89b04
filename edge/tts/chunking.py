"""The one chunker: text in, pieces worth speaking out, for local replies and streamed LLM answers.

    pieces = reply_pieces("2 to the power of 20 is 1048576.")   # ["2 to the", "power of 20 is 1048576."]
    chunker = SpeechChunker(first_wait_seconds=0.05)              # an LLM answer as it streams
    for delta in stream: speak(chunker.feed(delta)); speak([chunker.flush()])

The first piece is cut early (at a clause end, after a few words, or after a short wait for a
slow model) so the first audio comes soon; later pieces end at sentence ends, for the voice's
prosody. `speakable` turns markdown into plain words for TTS.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

_SENTENCE_END = re.compile(r"[.!?…]+[\"')\]]*\s+|\n+")
_CLAUSE_END = re.compile(r"[,;:]\s+|\s[–—-]\s+")
_WORD = re.compile(r"\S+\s+")
_LIST_MARKER = re.compile(r"^\s*(?:\d+[.)]|[a-z][.)]|[-*•])\s*$")
_URL = re.compile(r"https?://\S+")

# A local reply is known whole: its first piece is a clause of at least one word, or three words.
REPLY_FIRST_MIN_WORDS = 1
REPLY_FIRST_MAX_WORDS = 3


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
        """Where the next piece ends: a sentence end; for the first piece, whichever comes first of
        a sentence end, a clause end, `first_max_words` words, or the last word after the wait."""
        sentence = next((match.end() for match in _SENTENCE_END.finditer(self._buffer)
                         if not _LIST_MARKER.match(self._buffer[: match.end()].rsplit("\n", 1)[-1])), None)
        if self._spoke:
            return sentence
        clause = next((match.end() for match in _CLAUSE_END.finditer(self._buffer)
                       if len(self._buffer[: match.start()].split()) >= self._first_min_words), None)
        words = list(_WORD.finditer(self._buffer))  # complete words: followed by a space
        most = words[self._first_max_words - 1].end() if len(words) >= self._first_max_words else None
        cuts = [cut for cut in (sentence, clause, most) if cut is not None]
        if cuts:
            return min(cuts)
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


def reply_pieces(text: str) -> list[str]:
    """A whole reply cut as it will be spoken: a short first piece, then sentence by sentence."""
    chunker = SpeechChunker(first_wait_seconds=float("inf"), first_min_words=REPLY_FIRST_MIN_WORDS,
                            first_max_words=REPLY_FIRST_MAX_WORDS)
    pieces = chunker.feed(text.strip())
    tail = chunker.flush()
    return [*pieces, tail] if tail else pieces
