"""Audio sources and sinks. Every stage after a source sees 16 kHz mono int16 (or float32)."""
