"""The music player: PyAV decodes files and internet radio into the speaker's PCM output.

    player = AvPlayer(settings.media, DeviceOutput(48000))       # or open_player(settings)
    player.play([MediaItem("/music/song.flac"), MediaItem("http://radio.example/stream.mp3", "Jazz FM", "stream")])
    player.duck(True); player.set_volume(4, muted=False); player.pause(); player.resume(); player.next(); player.stop()

PyAV is FFmpeg in-process (it is already here: faster-whisper decodes with it), so one thread
opens the file or URL (FFmpeg's own http/icy client, with `media.open_timeout_seconds` for
connecting and each read), decodes, resamples to `media.sample_rate` mono, multiplies each block
by the gain, and writes it to the output, which blocks like a sound card. The gain is the
volume (`media.volume_step_db` per step below 10; 0 and mute are silence) times the duck
(`media.duck_db` while the speaker listens or talks), ramped over `media.ramp_seconds` so a change
does not click. Pause holds the decoder where it is; `position_seconds` counts the audio written.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge.audio.output import PcmOutput, open_output
from edge.core.settings import MediaSettings, Settings
from edge.core.stages import MediaError, MediaItem, NowPlaying, PlayerState

logger = logging.getLogger(__name__)

MAX_LEVEL = 10
MAX_BAD_PACKETS = 50  # undecodable packets in a row before an item is given up


def volume_gain(level: int, muted: bool, step_db: float) -> float:
    """Linear gain of a volume level: 10 is 1.0, each step below is `step_db` quieter, 0 is silence."""
    if muted or level <= 0:
        return 0.0
    return float(10 ** (-(MAX_LEVEL - min(level, MAX_LEVEL)) * step_db / 20))


@dataclass
class _Track:
    """The item being played: its open container and how much of it has been written."""

    item: MediaItem
    title: str
    container: object
    written: int = 0  # samples at the output rate


@dataclass
class _Queue:
    items: list[MediaItem] = field(default_factory=list)
    index: int = 0
    generation: int = 0  # bumped by play/next/stop: a worker of an older generation stops writing


class AvPlayer:
    """A `MediaPlayer` (edge/core/stages.py) on PyAV."""

    def __init__(self, settings: MediaSettings, output: PcmOutput) -> None:
        self.settings = settings
        self.output = output
        self._lock = threading.Condition()
        self._queue = _Queue()
        self._state = PlayerState.STOPPED
        self._track: _Track | None = None
        self._volume = volume_gain(5, False, settings.volume_step_db)
        self._ducked = False
        self._applied = self.target_gain  # the gain the last block ended with
        self._worker: threading.Thread | None = None
        self._writing = threading.Lock()  # one worker writes at a time; a superseded one never again

    # --- MediaPlayer -------------------------------------------------------------------------

    def play(self, items: Sequence[MediaItem]) -> NowPlaying:
        if not items:
            raise MediaError("there is nothing to play")
        self.output.open()  # AudioDeviceError (an EdgeError) when the speaker cannot be opened
        track = self._open(items[0])  # MediaError for a file or station that cannot be opened
        with self._lock:
            self._queue = _Queue(list(items), 0, self._queue.generation + 1)
            self._start(track)
            return self._now()

    def pause(self) -> bool:
        with self._lock:
            if self._state is not PlayerState.PLAYING:
                return False
            self._state = PlayerState.PAUSED
            self._lock.notify_all()
            return True

    def resume(self) -> bool:
        with self._lock:
            if self._state is not PlayerState.PAUSED:
                return False
            self._state = PlayerState.PLAYING
            self._lock.notify_all()
            return True

    def stop(self) -> bool:
        with self._lock:
            was = self._state is not PlayerState.STOPPED
            self._halt()
            self._queue = _Queue([], 0, self._queue.generation)
            return was

    def next(self) -> NowPlaying | None:
        """The next queued item that opens; None leaves the current one playing (there is nothing after it)."""
        with self._lock:
            if self._state is PlayerState.STOPPED:
                return None
            items, index = list(self._queue.items), self._queue.index
        for position in range(index + 1, len(items)):
            try:
                track = self._open(items[position])
            except MediaError as error:
                logger.warning("skipping %s: %s", items[position].source, error)
                continue
            with self._lock:
                self._queue = _Queue(items, position, self._queue.generation + 1)
                self._start(track)
                return self._now()
        return None

    def now_playing(self) -> NowPlaying | None:
        with self._lock:
            return self._now()

    def set_volume(self, level: int, muted: bool) -> None:
        with self._lock:
            self._volume = volume_gain(level, muted, self.settings.volume_step_db)

    def duck(self, on: bool) -> None:
        with self._lock:
            self._ducked = on

    # --- for the runtime and tests ------------------------------------------------------------

    @property
    def state(self) -> PlayerState:
        return self._state

    @property
    def target_gain(self) -> float:
        """What each sample is multiplied by now (once a ramp has finished): volume x duck."""
        duck = 10 ** (self.settings.duck_db / 20) if self._ducked else 1.0
        return self._volume * duck

    def close(self) -> None:
        self.stop()
        if self._worker is not None:
            self._worker.join(self.settings.open_timeout_seconds + 1.0)
        self.output.close()

    # --- inside ---------------------------------------------------------------------------------

    def _now(self) -> NowPlaying | None:
        track = self._track
        if track is None or self._state is PlayerState.STOPPED:
            return None
        return NowPlaying(track.item, track.title, self._state, round(track.written / self.output.rate, 3),
                          self._queue.index, len(self._queue.items))

    def _halt(self) -> None:
        """Stop the worker of this generation (called with the lock held)."""
        self._queue.generation += 1
        self._state = PlayerState.STOPPED
        self._lock.notify_all()

    def _start(self, track: _Track) -> None:
        """Begin `track` in a new worker (called with the lock held, generation already new)."""
        self._track, self._state = track, PlayerState.PLAYING
        self._applied = self.target_gain  # a new item starts at the current gain, without a glide
        generation = self._queue.generation
        self._worker = threading.Thread(target=self._run, args=(generation, track), name="media-player", daemon=True)
        self._worker.start()

    def _open(self, item: MediaItem) -> _Track:
        import av  # PyAV: a runtime dependency (faster-whisper needs it too)

        timeout = self.settings.open_timeout_seconds
        try:
            container = av.open(item.source, timeout=(timeout, timeout), metadata_errors="replace")
        except (av.error.FFmpegError, OSError) as error:
            where = "the station" if item.kind == "stream" else "the file"
            raise MediaError(f"cannot open {where} {item.source}: {error}") from error
        if not container.streams.audio:
            container.close()
            raise MediaError(f"{item.source} has no audio")
        return _Track(item, item.title or _tag_title(container, item.source), container)

    def _run(self, generation: int, track: _Track) -> None:
        """The worker: play `track`, then the rest of the queue, until stopped or superseded."""
        while track is not None:
            finished = self._play_track(generation, track)
            track.container.close()
            if not finished:
                return
            track = self._advance(generation)

    def _advance(self, generation: int) -> _Track | None:
        """The next item that opens, when this worker is still the current one; else None (stopped)."""
        while True:
            with self._lock:
                if generation != self._queue.generation:
                    return None
                index = self._queue.index + 1
                if index >= len(self._queue.items):
                    self._state = PlayerState.STOPPED
                    return None
                self._queue.index = index
                item = self._queue.items[index]
            try:
                track = self._open(item)
            except MediaError as error:
                logger.warning("skipping %s: %s", item.source, error)
                continue
            with self._lock:
                if generation != self._queue.generation:
                    track.container.close()
                    return None
                self._track = track
                return track

    def _play_track(self, generation: int, track: _Track) -> bool:
        """True when the track played to its end; False when stopped, superseded or broken."""
        try:
            for block in self._blocks(track):
                if not self._wait_while_paused(generation):
                    return False
                with self._writing:
                    if generation != self._queue.generation:
                        return False
                    self.output.write(self._apply_gain(block))
                    track.written += len(block)
        except Exception as error:  # FFmpeg errors mid-stream (a dropped station, a damaged file), a failing output
            logger.warning("stopped playing %s: %s", track.item.source, error)
            if track.item.kind == "file":
                return True  # on to the next file
            with self._lock:
                if generation == self._queue.generation:
                    self._state = PlayerState.STOPPED
            return False
        return True

    def _wait_while_paused(self, generation: int) -> bool:
        with self._lock:
            self._lock.wait_for(lambda: self._state is not PlayerState.PAUSED or generation != self._queue.generation)
            return generation == self._queue.generation and self._state is PlayerState.PLAYING

    def _blocks(self, track: _Track) -> Iterator[np.ndarray]:
        """Decoded audio as float32 mono blocks of `media.block_samples` at the output rate."""
        import av

        resampler = av.AudioResampler(format="flt", layout="mono", rate=self.output.rate)
        size = self.settings.block_samples
        pending = np.zeros(0, np.float32)
        stream = track.container.streams.audio[0]
        for frame in _frames(track.container, stream):
            for out in resampler.resample(frame):
                pending = np.concatenate([pending, out.to_ndarray().reshape(-1)])
            while len(pending) >= size:
                yield pending[:size]
                pending = pending[size:]
        if len(pending):
            yield pending

    def _apply_gain(self, block: np.ndarray) -> np.ndarray:
        """Multiply by the gain, gliding from the last block's over `media.ramp_seconds` (at most this block)."""
        with self._lock:
            target = self.target_gain
        start, self._applied = self._applied, target
        if start == target:
            return block * np.float32(target)
        ramp = min(len(block), max(1, int(self.settings.ramp_seconds * self.output.rate)))
        gains = np.full(len(block), target, np.float32)
        gains[:ramp] = np.linspace(start, target, ramp, dtype=np.float32)
        return block * gains


def _frames(container, stream) -> Iterator[object]:
    """Decoded frames, then None (which flushes the resampler). A packet that does not decode (a
    station's glitch, a tag in the middle of a stream) is skipped; many in a row end the item."""
    import av

    bad = 0
    for packet in container.demux(stream):
        try:
            yield from packet.decode()
            bad = 0
        except av.error.InvalidDataError:
            bad += 1
            if bad > MAX_BAD_PACKETS:
                raise
    yield None


def _tag_title(container, source: str) -> str:
    found = {**(container.streams.audio[0].metadata or {}), **(container.metadata or {})}  # Ogg keeps tags per stream
    tags = {key.lower(): value for key, value in found.items()}
    title, artist = tags.get("title", "").strip(), tags.get("artist", "").strip()
    if title and artist:
        return f"{title} by {artist}"
    if title:
        return title
    if "://" in source:
        return tags.get("icy-name", "") or source
    return Path(source).stem.replace("_", " ")


def open_player(settings: Settings) -> AvPlayer | None:
    """The player `media.output` asks for (None: `none`); nothing is opened until the first play."""
    output = open_output(settings.media, settings.live.output_device)
    return None if output is None else AvPlayer(settings.media, output)
