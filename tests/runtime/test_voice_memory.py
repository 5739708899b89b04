"""The runtime does not keep memory it no longer uses: the voice's onnxruntime session runs without the CPU
arena and a long sentence's freed memory goes back to the system once spoken (bench/voice_memory.py
measures the RSS and the time, side by side with the arena); the threads share two glibc heaps
(bench/soak measures the runtime's RSS under load)."""

from __future__ import annotations

import platform

from edge.core.memory import limit_malloc_arenas, release_freed_memory
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


def test_the_heaps_are_limited_unless_the_operator_set_malloc_arena_max(monkeypatch):
    glibc = platform.libc_ver()[0] == "glibc"
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert limit_malloc_arenas() is glibc
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert limit_malloc_arenas() is False  # the operator's setting wins
