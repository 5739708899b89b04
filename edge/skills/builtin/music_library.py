"""What the speaker can play: audio files under `media.music_folder`, and the stations of `media.stations`.

    library = MusicLibrary(Path("~/Music").expanduser())
    library.find("miles davis")          # files whose path words contain every word asked for
    stations = parse_stations("jazz fm=http://host/jazz.mp3, news=http://host/news")
    best_station(stations, "jazz")       # Station("jazz fm", "http://host/jazz.mp3")

A station's name is spoken as written in the setting ("Jazz FM=http://..." is said "Jazz FM").

Files are matched by the words of their path (folders are usually Artist/Album/NN Title.ext), so
nothing needs to be opened to search; the player reads the tags when it plays.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from edge.core.errors import ConfigError

AUDIO_SUFFIXES = {".mp3", ".flac", ".ogg", ".opus", ".oga", ".m4a", ".aac", ".wav", ".wma"}
MAX_FILES = 5000  # a larger folder is searched in its first files (sorted), so a question stays quick
_FILLER = {"some", "my", "the", "a", "an", "music", "songs", "song", "tracks", "by", "from", "please", "of", "to"}


@dataclass(frozen=True)
class Station:
    name: str
    url: str


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower().replace("_", " "))


def query_words(text: str) -> list[str]:
    """The words of a request that name what to play ('some miles davis music' -> ['miles', 'davis'])."""
    return [word for word in _words(text) if word not in _FILLER]


class MusicLibrary:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def files(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        found = sorted(path for path in self.folder.rglob("*") if path.suffix.lower() in AUDIO_SUFFIXES and path.is_file())
        return found[:MAX_FILES]

    def find(self, query: str) -> list[Path]:
        """Every file when `query` names nothing; else the files whose path has every word of it."""
        wanted = query_words(query)
        files = self.files()
        if not wanted:
            return files
        return [path for path in files if set(wanted) <= set(_words(str(path.relative_to(self.folder).with_suffix(""))))]


def parse_stations(setting: str) -> list[Station]:
    """`media.stations`: comma-separated name=URL pairs."""
    stations = []
    for entry in (part.strip() for part in setting.split(",")):
        if not entry:
            continue
        name, equals, url = entry.partition("=")
        if not equals or not name.strip() or "://" not in url:
            raise ConfigError(f"media.stations: {entry!r} must be name=URL, e.g. 'jazz fm=http://host/stream.mp3'")
        stations.append(Station(name.strip(), url.strip()))
    return stations


def best_station(stations: list[Station], asked: str) -> Station | None:
    """The station whose name shares the most words with `asked` (all of them, or it is not that one)."""
    wanted = [word for word in query_words(asked) if word not in {"radio", "station"}]
    if not wanted:
        return None
    for station in stations:
        if set(wanted) <= set(_words(station.name)):
            return station
    return None
