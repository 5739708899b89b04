"""The on-device voice assistant runtime (no torch here)."""
