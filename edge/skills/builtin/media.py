"""Music and radio: play, pause, resume, stop, next, and "what's playing".

The skill decides what to play (files under `media.music_folder` matched by the words asked
for, or a station of `media.stations`) and tells the runtime's player (`SkillContext.media`, a
`MediaPlayer` from edge/core/stages.py; the concrete one is edge/audio/player.py). A front end
without a player (`edge chat`, `media.output = none`) gets an honest answer, not silence.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from edge.core.errors import EdgeError
from edge.core.stages import MediaError, MediaItem, MediaPlayer, NowPlaying, PlayerState
from edge.skills.base import SkillReply, SkillRequest
from edge.skills.builtin.music_library import MusicLibrary, best_station, parse_stations
from edge.skills.declared import DeclaredSkill, SkillContext

NO_PLAYER = "I can't play music here: this speaker has no music player set up (media.output is none, or this is a text chat)."
NOTHING = "Nothing is playing."
# HWU64 slot names the intent model tags in a music request, the most specific first
_MODEL_SLOTS = ("song_name", "artist_name", "music_album", "playlist_name", "music_genre", "music_descriptor")


class MediaSkill(DeclaredSkill):
    spec_file: ClassVar[str] = "specs/media.yaml"

    def __init__(self, context: SkillContext) -> None:
        super().__init__(context)
        self.settings = context.settings.media
        self.library = MusicLibrary(Path(self.settings.music_folder).expanduser())
        self.stations = parse_stations(self.settings.stations)

    @property
    def player(self) -> MediaPlayer | None:
        return self.context.media

    def on_play_music(self, request: SkillRequest) -> SkillReply:
        if self.player is None:
            return SkillReply(NO_PLAYER)
        query = _asked(request, "query")
        files = self.library.find(query)
        if not files:
            if query and self.library.files():
                return SkillReply(f"I found no music matching {query} in your music folder.")
            return SkillReply(f"There's no music in your music folder yet ({self.settings.music_folder}).")
        playing = self._play([MediaItem(str(path)) for path in files], "that music")
        if isinstance(playing, SkillReply):
            return playing
        if len(files) == 1 or query:
            return SkillReply(f"Playing {playing.title}.", card=_card(playing))
        return SkillReply(f"Playing your music, starting with {playing.title}.", card=_card(playing))

    def on_play_radio(self, request: SkillRequest) -> SkillReply:
        if self.player is None:
            return SkillReply(NO_PLAYER)
        if not self.stations:
            return SkillReply("No radio stations are set up on this speaker yet (media.stations).")
        asked = _asked(request, "station", ("radio_name",))
        station = best_station(self.stations, asked) if asked else self.stations[0]
        if station is None:
            known = ", ".join(station.name for station in self.stations)
            return SkillReply(f"I don't know a station called {asked}. I know {known}.")
        playing = self._play([MediaItem(station.url, station.name, "stream")], station.name)
        if isinstance(playing, SkillReply):
            return playing
        return SkillReply(f"Playing {playing.title}.", card=_card(playing))

    def on_music_query(self, request: SkillRequest) -> SkillReply:
        current = self.player.now_playing() if self.player is not None else None
        if current is None:
            return SkillReply(NOTHING)
        if current.state is PlayerState.PAUSED:
            return SkillReply(f"{current.title} is paused.")
        return SkillReply(f"This is {current.title}.", card=_card(current))

    def on_media_pause(self, request: SkillRequest) -> SkillReply:
        return SkillReply("Paused." if self.player is not None and self.player.pause() else NOTHING)

    def on_media_resume(self, request: SkillRequest) -> SkillReply:
        if self.player is None or not self.player.resume():
            return SkillReply("There's nothing paused to resume.")
        return SkillReply("Resuming.")

    def on_media_stop(self, request: SkillRequest) -> SkillReply:
        return SkillReply("Stopped." if self.player is not None and self.player.stop() else NOTHING)

    def on_media_next(self, request: SkillRequest) -> SkillReply:
        current = self.player.now_playing() if self.player is not None else None
        if current is None:
            return SkillReply(NOTHING)
        if current.item.kind == "stream":
            return SkillReply(f"{current.title} is a radio station: there's no next track to skip to.")
        following = self.player.next()
        if following is None:
            return SkillReply("That's the last one in the queue.")
        return SkillReply(f"Next: {following.title}.", card=_card(following))

    def _play(self, items: list[MediaItem], what: str) -> NowPlaying | SkillReply:
        try:
            return self.player.play(items)
        except MediaError:
            if items[0].kind == "stream":
                return SkillReply(f"Sorry, I can't reach {what} right now.")
            return SkillReply(f"Sorry, I can't play {what}: the file won't open.")
        except EdgeError:  # the speaker's output (AudioDeviceError)
            return SkillReply("Sorry, the speaker's audio output isn't working, so I can't play anything.")


def _asked(request: SkillRequest, slot: str, model_slots: tuple[str, ...] = _MODEL_SLOTS) -> str:
    """The words naming what to play: the declared slot, else the intent model's music slots."""
    value = request.values.get(slot)
    if value is not None:
        return str(value.text)
    return " ".join(request.slots[name] for name in model_slots if request.slots.get(name))


def _card(playing: NowPlaying) -> dict[str, str]:
    where = "radio" if playing.item.kind == "stream" else f"{playing.index + 1} of {playing.queued}"
    return {"title": "Now playing", "body": f"{playing.title} ({where})"}
