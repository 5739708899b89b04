"""The bundled demo conversation `edge run` plays on a machine with no microphone."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

DEMO_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class DemoTurn:
    wav: Path
    text: str  # what the WAV says
    intent: str  # what the intent model should find


def demo_turns() -> list[DemoTurn]:
    conversation = json.loads((DEMO_DIR / "conversation.json").read_text(encoding="utf-8"))
    return [DemoTurn(DEMO_DIR / turn["wav"], turn["text"], turn["intent"]) for turn in conversation["turns"]]
