"""Regenerate the demo WAVs from conversation.json with the bundled Piper voice.

    python -m edge.runtime.demo.make

Piper's synthesis is randomised (VITS noise), so a take can come out slurred; each WAV is
re-synthesised until the bundled Whisper transcribes it to its text (after Whisper's English
normalisation), so the demo exercises the pipeline rather than a bad recording.
"""

from __future__ import annotations

import sys

import numpy as np

from edge.asr import WhisperAsr
from edge.audio.wavio import resample, write_wav
from edge.core.settings import AsrSettings, TtsSettings
from edge.runtime.demo import demo_turns
from edge.tts.piper import PiperTts

DEMO_RATE = 16000  # hertz: what a microphone request looks like to the pipeline
LEAD_SILENCE_SECONDS = 0.3
MAX_TAKES = 10


def main() -> int:
    from whisper_normalizer.english import EnglishTextNormalizer

    normalize = EnglishTextNormalizer()
    tts, asr = PiperTts(TtsSettings()), WhisperAsr(AsrSettings())
    silence = np.zeros(int(LEAD_SILENCE_SECONDS * DEMO_RATE), dtype=np.float32)
    for turn in demo_turns():
        for take in range(1, MAX_TAKES + 1):  # noqa: B007 (reported after the loop)
            speech = tts.synthesize_all(turn.text)
            samples = resample(speech.samples.astype(np.float32) / 32768.0, speech.sample_rate, DEMO_RATE)
            padded = np.concatenate([silence, samples, silence])
            heard = asr.transcribe(padded).text
            if normalize(heard) == normalize(turn.text):
                break
        else:
            print(f"{turn.wav.name}: no clean take in {MAX_TAKES}; last heard {heard!r}", file=sys.stderr)
            return 1
        write_wav(turn.wav, (np.clip(padded, -1, 1) * 32767).astype(np.int16), DEMO_RATE)
        print(f"{turn.wav.name}: {len(padded) / DEMO_RATE:.2f} s, take {take}: {turn.text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
