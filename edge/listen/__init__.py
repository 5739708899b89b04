"""Listening before a request: the wake word (openWakeWord) and voice activity (Silero VAD)."""
