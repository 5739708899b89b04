"""Where music goes: a continuous PCM output that plays float32 mono blocks at a fixed rate.

    output = open_output(settings.media, live_output_device="")    # the speaker, a WAV, or None
    output.write(block)        # blocks about as long as the audio takes to play, like a sound card

`DeviceOutput` is the speaker (sounddevice, the `audio` extra). `WavOutput` writes a WAV file at the
pace of a sound card (for `edge run --input` recordings), and `MemoryOutput` keeps every block
with its gain-applied samples (tests and benchmarks measure what reached the sink). The clocked
ones keep at most `lead_seconds` of audio ahead of the wall clock, as a sound card's buffer does,
so a pause or a gain change is heard within that time.
"""

from __future__ import annotations

import abc
import threading
import time
from pathlib import Path

import numpy as np

from edge.audio.stream import AudioDeviceError
from edge.core.errors import ConfigError
from edge.core.settings import MediaSettings


class PcmOutput(abc.ABC):
    def __init__(self, rate: int) -> None:
        self.rate = rate  # hertz

    def open(self) -> None:  # noqa: B027 (optional hook)
        """Get the device ready; raises AudioDeviceError when it cannot be opened."""

    @abc.abstractmethod
    def write(self, samples: np.ndarray) -> None:
        """Play float32 mono samples in [-1, 1]; returns when the output can take more."""

    def close(self) -> None:  # noqa: B027 (optional hook)
        """Release the device or file."""


class ClockedOutput(PcmOutput):
    """Paced by the wall clock (`speed` times real time): never more than `lead_seconds` ahead."""

    def __init__(self, rate: int, lead_seconds: float = 0.1, speed: float = 1.0) -> None:
        super().__init__(rate)
        self.lead_seconds, self.speed = lead_seconds, speed
        self._due = 0.0  # monotonic time at which everything written so far has played

    def write(self, samples: np.ndarray) -> None:
        now = time.monotonic()
        self._due = max(self._due, now)
        ahead = self._due - now - self.lead_seconds
        if ahead > 0:
            time.sleep(ahead)
        self._due += len(samples) / self.rate / self.speed
        self._take(np.asarray(samples, dtype=np.float32))

    @abc.abstractmethod
    def _take(self, samples: np.ndarray) -> None:
        """Keep the samples (they have been paced)."""


class MemoryOutput(ClockedOutput):
    """Keeps what was played: `samples()` all of it, `blocks` each write with its wall time."""

    def __init__(self, rate: int, lead_seconds: float = 0.1, speed: float = 1.0) -> None:
        super().__init__(rate, lead_seconds, speed)
        self.blocks: list[tuple[float, np.ndarray]] = []
        self.total = 0  # samples written
        self._changed = threading.Condition()

    def _take(self, samples: np.ndarray) -> None:
        with self._changed:
            self.blocks.append((time.monotonic(), samples))
            self.total += len(samples)
            self._changed.notify_all()

    def samples(self, start: int = 0) -> np.ndarray:
        with self._changed:
            blocks = [block for _, block in self.blocks]
        audio = np.concatenate(blocks) if blocks else np.zeros(0, np.float32)
        return audio[start:]

    def wait_for(self, total: int, timeout: float) -> bool:
        """Block until `total` samples have been written (False at the timeout)."""
        with self._changed:
            return self._changed.wait_for(lambda: self.total >= total, timeout)


class WavOutput(ClockedOutput):
    """Music into a 16-bit WAV file, paced like a sound card."""

    def __init__(self, path: Path, rate: int) -> None:
        super().__init__(rate)
        self.path = path
        self._file = None

    def open(self) -> None:
        if self._file is None:
            import soundfile

            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = soundfile.SoundFile(str(self.path), "w", samplerate=self.rate, channels=1, subtype="PCM_16")

    def _take(self, samples: np.ndarray) -> None:
        self.open()
        self._file.write(samples)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class DeviceOutput(PcmOutput):
    """The speaker through sounddevice; a blocking stream paces the player."""

    def __init__(self, rate: int, device: str = "", block_samples: int = 2048) -> None:
        super().__init__(rate)
        self.device, self.block_samples = device, block_samples
        self._stream = None

    def open(self) -> None:
        if self._stream is not None:
            return
        from edge.audio.devices import _device, import_sounddevice

        sounddevice = import_sounddevice()
        try:
            self._stream = sounddevice.OutputStream(samplerate=self.rate, channels=1, dtype="float32",
                                                    device=_device(self.device), blocksize=self.block_samples)
            self._stream.start()
        except Exception as error:  # PortAudio errors share no base class
            self._stream = None
            raise AudioDeviceError(f"cannot open the speaker for music ({error}); set media.output_device "
                                   "or media.output=none") from error

    def write(self, samples: np.ndarray) -> None:
        self.open()
        self._stream.write(np.asarray(samples, dtype=np.float32).reshape(-1, 1))

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close(ignore_errors=True)
            self._stream = None


def open_output(settings: MediaSettings, live_output_device: str = "") -> PcmOutput | None:
    """The output `media.output` names: speaker, none, or a .wav path. Nothing is opened yet."""
    choice = settings.output.strip()
    if choice == "none":
        return None
    if choice == "speaker":
        return DeviceOutput(settings.sample_rate, settings.output_device or live_output_device, settings.block_samples)
    if choice.lower().endswith(".wav"):
        return WavOutput(Path(choice).expanduser(), settings.sample_rate)
    raise ConfigError(f"media.output must be speaker, none or a .wav path, not {settings.output!r}")
