"""The voice does not keep its largest reply's memory: its onnxruntime session runs without the CPU
arena and freed memory goes back to the system after each reply (bench/voice_memory.py measures the
RSS and the time, side by side with the arena)."""

from __future__ import annotations

import platform

from edge.core.memory import release_freed_memory
from edge.core.settings import TtsSettings
from edge.tts.piper import PiperTts


def test_the_voice_session_runs_without_the_cpu_arena_and_still_speaks():
    voice = PiperTts(TtsSettings())
    assert voice._voice.session.get_session_options().enable_cpu_mem_arena is False
    audio = voice.synthesize_all("Your timer is set for ten minutes.")
    assert len(audio.samples) / audio.sample_rate > 1.0 and abs(audio.samples).max() > 1000


def test_freed_memory_is_handed_back_on_glibc():
    # the speaker's boards run Debian/Raspberry Pi OS (glibc); elsewhere it is a no-op that says so
    assert release_freed_memory() is (platform.libc_ver()[0] == "glibc")
