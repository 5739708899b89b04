"""Microphone and speaker through sounddevice (PortAudio): the optional `audio` extra.

`sounddevice` is imported only here and only when a device is opened, so a speaker without
PortAudio still runs everything else. The audio callback only copies samples into a bounded
queue (a full queue drops the oldest frame and counts it); the loop does the inference. A
device that fails or is unplugged is reopened after `live.reconnect_seconds`.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterator

import numpy as np

from edge.audio.stream import SAMPLE_RATE, AudioDeviceError, AudioSink, FrameSource, to_int16
from edge.core.settings import LiveSettings

logger = logging.getLogger(__name__)

INSTALL_HINT = "install the audio extra (pip install 'edge-voice[audio]') and PortAudio (apt install libportaudio2)"


def import_sounddevice():
    try:
        import sounddevice
    except ImportError as error:
        raise AudioDeviceError(f"sounddevice is not installed: {INSTALL_HINT}") from error
    except OSError as error:  # the Python package is there, the PortAudio library is not
        raise AudioDeviceError(f"PortAudio is missing ({error}): {INSTALL_HINT}") from error
    return sounddevice


def _device(name: str) -> int | str | None:
    if not name:
        return None
    return int(name) if name.isdigit() else name


def find_input_device(settings: LiveSettings) -> str:
    """A description of the microphone that would be used; AudioDeviceError when there is none."""
    sounddevice = import_sounddevice()
    try:
        info = sounddevice.query_devices(_device(settings.input_device), kind="input")
    except Exception as error:  # PortAudio errors share no base class; ValueError for a bad name
        raise AudioDeviceError(f"no microphone found ({error}); plug one in or set live.input_device") from error
    return str(info["name"])


class MicrophoneSource(FrameSource):
    def __init__(self, settings: LiveSettings) -> None:
        self._settings = settings
        self._sounddevice = import_sounddevice()
        self._queue: queue.Queue[np.ndarray] = queue.Queue(maxsize=settings.queue_frames)
        self._failed = threading.Event()
        self._closed = threading.Event()
        self._resampler = None  # soxr.ResampleStream when the device cannot record at 16 kHz
        self.dropped_frames = 0

    def _callback(self, indata, frames, time_info, status) -> None:  # noqa: ARG002 (PortAudio's signature)
        if status.input_overflow:
            self.dropped_frames += 1
        frame = indata[:, 0].copy()
        try:
            self._queue.put_nowait(frame)
        except queue.Full:  # the loop is behind: drop the oldest, keep the newest
            try:
                self._queue.get_nowait()
            except queue.Empty:
                pass
            self.dropped_frames += 1
            self._queue.put_nowait(frame)

    def _open(self):
        """Open at 16 kHz; a device that refuses it is opened at its own rate and resampled here
        (in the loop's thread, never in the callback)."""
        device = _device(self._settings.input_device)
        try:
            stream = self._stream(SAMPLE_RATE, device)
            self._resampler = None
        except Exception as error:  # PortAudioError: "Invalid sample rate" and the like
            rate = int(self._sounddevice.query_devices(device, kind="input")["default_samplerate"])
            if rate == SAMPLE_RATE:
                raise
            import soxr

            logger.info("the microphone refuses 16000 Hz (%s); recording at %d Hz and resampling", error, rate)
            stream = self._stream(rate, device)
            self._resampler = soxr.ResampleStream(rate, SAMPLE_RATE, 1, dtype="int16")
        stream.start()
        return stream

    def _stream(self, rate: int, device):
        return self._sounddevice.InputStream(
            samplerate=rate, channels=1, dtype="int16", blocksize=self._settings.frame_samples * rate // SAMPLE_RATE,
            device=device, callback=self._callback, finished_callback=self._failed.set,
        )

    def frames(self) -> Iterator[np.ndarray]:
        attempts = 0
        while not self._closed.is_set():
            try:
                stream = self._open()
            except Exception as error:  # PortAudioError, ValueError for a missing device
                attempts += 1
                limit = self._settings.reconnect_attempts
                if limit and attempts >= limit:
                    raise AudioDeviceError(f"cannot open the microphone after {attempts} attempts: {error}; "
                                           "check that it is plugged in or set live.input_device") from error
                logger.warning("microphone unavailable (%s); retrying in %.1f s", error, self._settings.reconnect_seconds)
                time.sleep(self._settings.reconnect_seconds)
                continue
            attempts = 0
            self._failed.clear()
            try:
                yield from self._read(stream)
            finally:
                stream.close(ignore_errors=True)
            if not self._closed.is_set():
                logger.warning("the microphone stopped (unplugged?); reopening in %.1f s", self._settings.reconnect_seconds)
                time.sleep(self._settings.reconnect_seconds)

    def _read(self, stream) -> Iterator[np.ndarray]:
        while not self._closed.is_set():
            try:
                frame = self._queue.get(timeout=0.5)
                yield frame if self._resampler is None else self._resampler.resample_chunk(frame)
            except queue.Empty:
                if self._failed.is_set() or not stream.active:
                    return

    def close(self) -> None:
        self._closed.set()


class _Playback:
    """One reply on its way to the speaker: its own queue, stop flag and thread."""

    def __init__(self, sounddevice, rate: int, device) -> None:
        self.queue: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=256)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._play, args=(sounddevice, rate, device), name="speaker", daemon=True)
        self.thread.start()

    def _play(self, sounddevice, rate: int, device) -> None:
        try:
            with sounddevice.OutputStream(samplerate=rate, channels=1, dtype="int16", device=device) as stream:
                while not self.stopped.is_set() and (piece := self.queue.get()) is not None:
                    for start in range(0, len(piece), 2048):  # small writes, so a stop is heard quickly
                        if self.stopped.is_set():
                            break
                        stream.write(piece[start : start + 2048])
        except Exception as error:  # PortAudio errors: unplugged speaker, busy device
            logger.warning("speaker failed (%s); the reply was not heard. Check live.output_device", error)


class SpeakerSink(AudioSink):
    """Plays each reply on a background thread; `stop` silences the rest at once."""

    def __init__(self, settings: LiveSettings) -> None:
        self._settings = settings
        self._sounddevice = import_sounddevice()
        self._current: _Playback | None = None

    def begin(self, sample_rate: int, at_seconds: float) -> None:
        if self._current is not None:
            self._current.stopped.set()
            self._current.queue.put(None)
        self._current = _Playback(self._sounddevice, sample_rate, _device(self._settings.output_device))

    def write(self, samples: np.ndarray) -> None:
        if self._current is not None and not self._current.stopped.is_set():
            self._current.queue.put(to_int16(np.asarray(samples)))

    def end(self) -> None:
        if self._current is not None:
            self._current.queue.put(None)

    def playing(self, at_seconds: float) -> bool:
        return self._current is not None and self._current.thread.is_alive()

    def stop(self, at_seconds: float) -> None:
        if self._current is not None:
            self._current.stopped.set()
            try:
                self._current.queue.put_nowait(None)
            except queue.Full:
                pass
