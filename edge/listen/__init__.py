"""Listening before a request: the wake word (openWakeWord), voice activity (Silero VAD), and a
stop word heard without the wake word while the speaker talks or plays (stop.py)."""
