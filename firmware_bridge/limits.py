"""Bounds on what one Wyoming peer can make the server hold or do: audio, text, connections, idleness.

    buffer = RequestBuffer(PcmFormat(48000, 2, 2), max_seconds=30.0)   # whatever format the peer declares…
    buffer.add(chunk)                                                   # …is kept as 16 kHz mono int16
    samples = buffer.samples()                                          # float32 for ASR
    problem = text_too_long(event, max_chars)                           # None, or what to tell the peer
    limiter = ConnectionLimiter(max_connections=32, max_per_address=16)

A request's audio is converted as it arrives, so its memory is `max_seconds` of 16 kHz mono
(0.96 MB for 30 s) whatever rate, width and channel count the peer declares: a peer declaring
384 kHz, 32-bit, 16 channels would otherwise reserve 737 MB per request. Texts to speak or to
understand are refused past `bridge.max_text_chars` (1 MiB of text is about 2.5 GB of audio and
100 CPU-minutes on the only inference worker).
"""

from __future__ import annotations

import logging
from collections import Counter

import numpy as np

from firmware_bridge.pcm import PcmFormat, to_float_mono
from firmware_bridge.wyoming.events import Intent, Recognize, Synthesize, Transcript
from firmware_bridge.wyoming.schema import WyomingEvent

logger = logging.getLogger(__name__)

REQUEST_RATE = 16000  # hertz: what request audio is kept at


class RequestBuffer:
    """Request audio as it arrives, kept as `rate` mono int16, at most `max_seconds` of it."""

    def __init__(self, fmt: PcmFormat, max_seconds: float, rate: int = REQUEST_RATE) -> None:
        self.fmt = fmt
        self.rate = rate
        self.truncated = False
        self._max_bytes = int(max_seconds * rate) * 2
        self._pcm = bytearray()
        self._pending = b""  # the bytes of an incomplete sample frame, until the next chunk
        self._raw = fmt == PcmFormat(rate, 2, 1)  # already what is kept: stored as it comes
        self._resampler = None
        if fmt.rate != rate:
            import soxr

            self._resampler = soxr.ResampleStream(fmt.rate, rate, 1, dtype="float32")

    def __len__(self) -> int:
        return len(self._pcm)

    @property
    def full(self) -> bool:
        return len(self._pcm) >= self._max_bytes

    def add(self, audio: bytes) -> None:
        """Add PCM in the buffer's format; past the cap it is dropped (and `truncated` set)."""
        if self.full:
            self.truncated = self.truncated or bool(audio)
            return
        data = self._pending + audio
        frame_bytes = self.fmt.width * self.fmt.channels
        usable = len(data) - len(data) % frame_bytes
        self._pending = data[usable:]
        if self._raw:
            self._keep(data[:usable])
            return
        mono = to_float_mono(data[:usable], self.fmt)
        if self._resampler is not None:
            mono = self._resampler.resample_chunk(mono)
        self._keep(_to_int16(mono))

    def _keep(self, pcm: bytes) -> None:
        room = self._max_bytes - len(self._pcm)
        if len(pcm) > room:
            self.truncated = True
        self._pcm += pcm[: max(0, room) - max(0, room) % 2]

    def samples(self) -> np.ndarray:
        """Everything kept, as float32 mono at `rate` in [-1, 1]; the buffer is emptied."""
        if self._resampler is not None and not self.full:
            self._keep(_to_int16(self._resampler.resample_chunk(np.zeros(0, np.float32), last=True)))
        pcm, self._pcm = bytes(self._pcm), bytearray()
        return np.frombuffer(pcm, "<i2").astype(np.float32) / 32768.0


def _to_int16(samples: np.ndarray) -> bytes:
    return np.clip(np.round(samples * 32768.0), -32768, 32767).astype("<i2").tobytes()


def text_too_long(event: WyomingEvent, max_chars: int) -> str | None:
    """Why `event`'s text is refused (too long to speak or to understand), or None."""
    if isinstance(event, (Synthesize, Recognize, Transcript)):
        text = event.text
    elif isinstance(event, Intent):
        text = event.text or ""
    else:
        return None
    if len(text) <= max_chars:
        return None
    return f"{event.type} text of {len(text)} characters is over bridge.max_text_chars ({max_chars}): send it in parts"


class ConnectionLimiter:
    """Counts open connections, in all and per peer address."""

    def __init__(self, max_connections: int, max_per_address: int) -> None:
        self.max_connections = max_connections
        self.max_per_address = max_per_address
        self._open: Counter[str] = Counter()

    @property
    def open(self) -> int:
        return sum(self._open.values())

    def acquire(self, address: str) -> str | None:
        """Count a new connection; or say why it is refused (and count nothing)."""
        if self.open >= self.max_connections:
            return f"the server already has {self.open} connections (bridge.max_connections); try again later"
        if self._open[address] >= self.max_per_address:
            return f"{address} already has {self._open[address]} connections (bridge.max_connections_per_address)"
        self._open[address] += 1
        return None

    def release(self, address: str) -> None:
        self._open[address] -= 1
        if self._open[address] <= 0:
            del self._open[address]
