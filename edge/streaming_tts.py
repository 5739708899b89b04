"""Reply audio that reaches the speaker piece by piece, while later pieces are made.

`StreamingTts` stands in for `PiperTts` inside the pipeline: the reply text is cut into pieces
(the first at a clause end or after a few words, so the first audio comes early; the rest at
sentence ends), and every piece Piper makes is handed to the current listener (the live loop's
sink) at once, so the first piece plays while the next is synthesised. After `interrupt()`
(barge-in) no further piece is made.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator

from edge.tts import PiperTts, SpeechAudio

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def reply_pieces(text: str, first_max_words: int = 4, first_cut_words: int = 3) -> list[str]:
    """Sentences; a first sentence longer than `first_max_words` is cut at its first clause end
    within them, else after `first_cut_words` words, so the first audio is short to make."""
    sentences = [sentence for sentence in _SENTENCE_END.split(text.strip()) if sentence]
    if not sentences:
        return []
    words = sentences[0].split()
    if len(words) <= first_max_words:
        return sentences
    cut = next((i + 1 for i, word in enumerate(words[:first_max_words]) if word.endswith((",", ";", ":"))),
               first_cut_words)
    return [" ".join(words[:cut]), " ".join(words[cut:]), *sentences[1:]]


class StreamingTts:
    def __init__(self, tts: PiperTts) -> None:
        self._tts = tts
        self.sample_rate = tts.sample_rate
        self._listener: Callable[[SpeechAudio], None] | None = None
        self._interrupted = threading.Event()

    def listen(self, listener: Callable[[SpeechAudio], None] | None) -> None:
        """Send each synthesised piece of the next replies to `listener` (None: to nobody)."""
        self._listener = listener
        self._interrupted.clear()

    def interrupt(self) -> None:
        self._interrupted.set()

    def synthesize(self, text: str) -> Iterator[SpeechAudio]:
        for piece_text in reply_pieces(text):
            for piece in self._tts.synthesize(piece_text):
                if self._interrupted.is_set():
                    return
                if self._listener is not None:
                    self._listener(piece)
                yield piece

    def synthesize_all(self, text: str) -> SpeechAudio:
        return self._tts.synthesize_all(text)

    def phoneme_count(self, text: str) -> int:
        return self._tts.phoneme_count(text)
