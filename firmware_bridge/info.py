"""What `edge bridge serve` tells a `describe`: the programs it offers, in the shape Home Assistant reads.

Offered: ASR (Whisper tiny.en), TTS (Piper joe-medium), intent recognition (the bundled ONNX
intent model) and intent handling (the built-in skills). Not offered, so not claimed: wake
word detection, microphone, speaker, and being a satellite itself. Satellites are served by
the same port (see `firmware_bridge.satellites`), which the handle program's description says.
"""

from __future__ import annotations

import importlib.metadata
from typing import Any

from firmware_bridge.wyoming.events import Info

ATTRIBUTION = {"name": "edge-voice", "url": "https://pypi.org/project/edge-voice/"}


def _version() -> str | None:
    try:
        return importlib.metadata.version("edge-voice")
    except importlib.metadata.PackageNotFoundError:
        return None


def _artifact(name: str, description: str, attribution: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "attribution": attribution or ATTRIBUTION,
        "installed": True,
        "description": description,
        "version": _version(),
    }


def service_info(bundle: str, language: str = "en") -> Info:
    """The `info` answer for this runtime (`bundle`: the intent bundle's name)."""
    voice_language = "en_US" if language == "en" else language
    asr_model = {
        **_artifact("whisper-tiny.en", "Whisper tiny.en on CTranslate2, int8", {"name": "OpenAI", "url": "https://github.com/openai/whisper"}),
        "languages": [language],
    }
    voice = {
        **_artifact("en_US-joe-medium", "Piper voice en_US-joe-medium (22050 Hz)", {"name": "rhasspy", "url": "https://github.com/rhasspy/piper"}),
        "languages": [voice_language],
        "speakers": None,
    }
    intent_model = {**_artifact(bundle, "ONNX INT8 intent and slot model (HWU64 intents)"), "languages": [language]}
    handle_model = {**_artifact("builtin-skills", "time and date, calculator, alarms and timers"), "languages": [language]}
    return Info(
        asr=[{
            **_artifact("edge-asr", "on-device speech to text"),
            "models": [asr_model],
            "supports_transcript_streaming": False,
            "requires_external_vad": True,
            "prefers_auto_gain_enabled": True,
            "prefers_noise_reduction_enabled": True,
        }],
        tts=[{**_artifact("edge-tts", "on-device text to speech"), "voices": [voice], "supports_synthesize_streaming": False}],
        handle=[{
            **_artifact(
                "edge-skills",
                "on-device intent handling; satellites may also connect here and run whole turns "
                "(run-pipeline from asr to tts)",
            ),
            "models": [handle_model],
            "supports_handled_streaming": False,
            "supports_home_control": False,
        }],
        intent=[{**_artifact("edge-intent", "on-device intent recognition"), "models": [intent_model]}],
    )


def satellite_info(name: str, area: str | None, description: str = "edge satellite simulator") -> Info:
    """The hello a satellite sends on connecting: its name and the room (area) it is in."""
    return Info(satellite={**_artifact(name, description), "area": area, "has_vad": False,
                           "active_wake_words": None, "max_active_wake_words": None, "supports_trigger": False})
