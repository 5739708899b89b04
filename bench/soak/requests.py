"""What the soak's satellites say: the demo WAVs and a few more requests spoken by the bundled voice.

    clips = request_clips()        # {kind: [Clip]}; synthesised once into ~/.cache/edge/bench-clips/soak
    script = satellite_script(3, clips)   # satellite 3's cycle of clips

Each kind writes (or reads) something the soak checks: `timer` and `reminder` set alerts that come
due during the run (each satellite its own, so an alert's words say whose it is), `item` adds a row
to the shopping list, `query` reads the list back (its reply carries a card for the companion),
`cloud` goes to the LLM server, `demo` is the bundled demo.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.clips import CACHE
from edge.runtime.demo import demo_turns
from firmware_bridge.simulator import SAMPLE_RATE, wav_request_pcm

FOLDER = CACHE / "soak"
LEAD_SILENCE_SECONDS = 0.3  # as the demo WAVs: a microphone hears a little quiet before and after

# Each satellite (up to 8) sets its own timer and its own reminder, so every alert's words name
# the satellite that set it and a ring heard anywhere can be matched to its row.
TIMER_SECONDS = ["five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"]
REMINDERS = [("water the plants", "ten"), ("call mom", "twenty"), ("feed the cat", "fifteen"),
             ("take out the trash", "ten"), ("check the oven", "twenty"), ("move the car", "fifteen"),
             ("lock the door", "ten"), ("walk the dog", "twenty")]
SPOKEN = {
    "timer": [f"set a timer for {seconds} seconds" for seconds in TIMER_SECONDS],
    "reminder": [f"remind me to {task} in {seconds} seconds" for task, seconds in REMINDERS],
    "item": ["put milk on my shopping list", "put eggs on my shopping list", "add bread to my shopping list",
             "add apples to my shopping list"],
    "query": ["what is on my shopping list"],
    "cloud": ["what is the capital of france", "who wrote war and peace"],
}

# What the runtime says when it wrote a row (the satellite was told it is set).
ACKNOWLEDGED = {
    "timer": re.compile(r"^Timer set for (?P<what>.+)\.$"),
    "reminder": re.compile(r"^Okay, I'll remind you to (?P<what>.+) at .+\.$"),
    "item": re.compile(r"^Added (?P<what>.+) to your shopping list\.$"),
}
WRITES = frozenset(ACKNOWLEDGED)  # the kinds whose turns write a row
ALERT = re.compile(r"^(Your timer for .+ is done\.|Reminder: .+\.|It's .+\. This is your alarm.*\.)$")


@dataclass(frozen=True)
class Clip:
    kind: str  # timer | reminder | item | query | cloud | demo
    text: str
    pcm: bytes  # 16 kHz int16 mono, as a satellite's microphone gives it

    @property
    def seconds(self) -> float:
        return len(self.pcm) / 2 / SAMPLE_RATE


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _synthesise(missing: list[tuple[str, Path]]) -> None:
    from edge.audio.wavio import float_to_int16, resample, write_wav
    from edge.core.settings import TtsSettings
    from edge.tts.piper import PiperTts

    tts = PiperTts(TtsSettings())
    silence = np.zeros(int(LEAD_SILENCE_SECONDS * SAMPLE_RATE), np.float32)
    for text, path in missing:
        speech = tts.synthesize_all(text)
        samples = resample(speech.samples.astype(np.float32) / 32768.0, speech.sample_rate, SAMPLE_RATE)
        write_wav(path, float_to_int16(np.concatenate([silence, samples, silence])), SAMPLE_RATE)


def request_clips() -> dict[str, list[Clip]]:
    """Every request the soak uses, by kind (the spoken ones made once with the bundled Piper voice)."""
    paths = {kind: [(text, FOLDER / f"{_slug(text)}.wav") for text in texts] for kind, texts in SPOKEN.items()}
    missing = [(text, path) for pairs in paths.values() for text, path in pairs if not path.is_file()]
    if missing:
        _synthesise(missing)
    clips = {kind: [Clip(kind, text, wav_request_pcm(path)) for text, path in pairs] for kind, pairs in paths.items()}
    clips["demo"] = [Clip("demo", turn.text, wav_request_pcm(turn.wav)) for turn in demo_turns()]
    return clips


def satellite_script(index: int, clips: dict[str, list[Clip]]) -> list[Clip]:
    """Satellite `index`'s cycle: every kind, its own timer, item and reminder, shifted so that the
    satellites are not all asking the same thing at once."""
    def pick(kind: str, offset: int = 0) -> Clip:
        choices = clips[kind]
        return choices[(index + offset) % len(choices)]

    cycle = [pick("timer"), pick("demo"), pick("item"), pick("cloud"), pick("query"), pick("demo", 1),
             pick("reminder"), pick("demo", 2), pick("cloud", 1), pick("demo", 3)]
    shift = index % len(cycle)
    return cycle[shift:] + cycle[:shift]


def board_script(clips: dict[str, list[Clip]]) -> list[Clip]:
    """The UART board asks the demo questions (its replies are audio only: no alerts of its own)."""
    return [clip for clip in clips["demo"] if "alarm" not in clip.text.lower()]
