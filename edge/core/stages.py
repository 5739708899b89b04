"""Small interfaces that let a lower layer use a stage the runtime owns, without importing it.

    class MediaSkill(DeclaredSkill):                       # edge/skills/builtin/media.py
        def on_play_music(self, request):
            self.context.media.play([MediaItem("/music/a.flac", "A")])   # whatever player the runtime built

The runtime builds the concrete objects (edge/audio/player.py `AvPlayer` is a `MediaPlayer`) and
hands them down through constructors (a skill gets them in its `SkillContext`). A skill sees only
the Protocol, so `edge.skills` keeps importing nothing but `edge.core`.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from edge.core.errors import EdgeError


class MediaError(EdgeError):
    """A file or stream cannot be opened or decoded, or the sound output cannot be opened; the message says which."""


class PlayerState(enum.Enum):
    STOPPED = "stopped"
    PLAYING = "playing"
    PAUSED = "paused"


@dataclass(frozen=True)
class MediaItem:
    source: str  # a file path or a stream URL (http://, https://)
    title: str = ""  # what the speaker calls it; empty: the file's tags or name
    kind: str = "file"  # file | stream (internet radio: it never ends, and has no "next")


@dataclass(frozen=True)
class NowPlaying:
    item: MediaItem
    title: str  # the item's title, else its tags ("Artist - Title"), else the file name
    state: PlayerState
    position_seconds: float  # audio played of this item
    index: int  # place in the queue, from 0
    queued: int  # items in the queue


@runtime_checkable
class MediaPlayer(Protocol):
    """Plays a queue of files or streams to the speaker, under the speaker's own voice."""

    def play(self, items: Sequence[MediaItem]) -> NowPlaying:
        """Replace the queue and start its first item; raises MediaError when it cannot be opened."""

    def pause(self) -> bool:
        """False when nothing was playing."""

    def resume(self) -> bool:
        """Continue a paused item where it stopped; False when nothing was paused."""

    def stop(self) -> bool:
        """Stop and forget the queue; False when nothing was playing or paused."""

    def next(self) -> NowPlaying | None:
        """Skip to the next queued item; None (and stopped) when there is none."""

    def now_playing(self) -> NowPlaying | None:
        """The current item, playing or paused; None when stopped."""

    def set_volume(self, level: int, muted: bool) -> None:
        """The speaker's volume, 0 (silent) to 10 (full scale), as the volume skill keeps it."""

    def duck(self, on: bool) -> None:
        """Lower the music while the speaker listens or talks (True), and bring it back (False)."""
