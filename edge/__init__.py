"""The on-device voice assistant runtime (no torch here); docs/architecture.md is the map."""

from edge import _moved

_moved.install()  # old flat module paths keep working for one release (edge/_moved.py)
