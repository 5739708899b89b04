"""The media and volume skills as a conversation, on the real intent model and dialogue layer,
driving the real PyAV player: a music folder of files encoded in the test, a radio station served
on 127.0.0.1, and a clocked memory sink (4x real time) that keeps what reached it."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from helpers.media_files import RadioServer, write_tone

from edge.audio.output import MemoryOutput
from edge.audio.player import AvPlayer
from edge.core.settings import MediaSettings, NluSettings, Settings, SkillSettings
from edge.core.stages import PlayerState
from edge.dialogue import DialogueManager
from edge.nlu.runtime import IntentModel
from edge.skills.loader import load_skills

RATE = 48000
LIMIT = 30.0
NOW = datetime(2025, 3, 13, 19, 0, tzinfo=ZoneInfo("Europe/London"))


@pytest.fixture(scope="module")
def model():
    return IntentModel.load(NluSettings())


@pytest.fixture
def music(tmp_path):
    folder = tmp_path / "Music"
    (folder / "Miles Davis" / "Kind of Blue").mkdir(parents=True)
    (folder / "Nina Simone").mkdir(parents=True)
    write_tone(folder / "Miles Davis" / "Kind of Blue" / "01 So What.mp3", seconds=8.0, frequency=440.0,
               title="So What", artist="Miles Davis")
    write_tone(folder / "Miles Davis" / "Kind of Blue" / "02 Freddie Freeloader.flac", seconds=8.0, frequency=550.0,
               title="Freddie Freeloader", artist="Miles Davis")
    write_tone(folder / "Nina Simone" / "Feeling Good.ogg", seconds=8.0, frequency=660.0)
    return folder


class Speaker:
    def __init__(self, model, tmp_path, media: MediaSettings, with_player: bool = True):
        self.model = model
        self.settings = Settings(skills=SkillSettings(database_path=str(tmp_path / "edge.sqlite3"), entry_points=False,
                                                      timezone="Europe/London"), media=media)
        self.output = MemoryOutput(RATE, speed=4.0)
        self.player = AvPlayer(media, self.output) if with_player else None
        self.loaded = load_skills(self.settings, clock=lambda: NOW, media=self.player)
        self.dialogue = DialogueManager(self.settings.dialogue, self.loaded.registry, self.loaded.context.memory,
                                        lambda: NOW)

    def say(self, text: str) -> str:
        return self.dialogue.respond(self.dialogue.interpret(self.model.predict(text), text, "test")).text

    def level_db(self, samples: int = RATE // 8) -> float:
        """RMS of the next `samples` that reach the sink, after the block that ramps to a new gain."""
        begin = self.output.total + 2 * 2048
        assert self.output.wait_for(begin + samples, LIMIT)
        block = self.output.samples(begin)[:samples].astype(np.float64)
        return float(20 * np.log10(np.sqrt(np.mean(block**2)) + 1e-12))

    def close(self):
        if self.player is not None:
            self.player.close()
        self.loaded.close()


@pytest.fixture
def speaker_for(model, tmp_path):
    made = []

    def make(media: MediaSettings, with_player: bool = True) -> Speaker:
        made.append(Speaker(model, tmp_path, media, with_player))
        return made[-1]

    yield make
    for speaker in made:
        speaker.close()


def test_music_plays_pauses_resumes_skips_and_stops(speaker_for, music):
    speaker = speaker_for(MediaSettings(music_folder=str(music), sample_rate=RATE))
    assert speaker.say("play some music") == "Playing your music, starting with So What by Miles Davis."
    assert speaker.output.wait_for(RATE // 2, LIMIT)  # samples reach the sink
    assert speaker.say("what's playing") == "This is So What by Miles Davis."
    assert speaker.say("pause the music") == "Paused."
    position = speaker.player.now_playing().position_seconds
    assert speaker.say("what's playing") == "So What by Miles Davis is paused."
    assert speaker.say("resume the music") == "Resuming."
    assert speaker.output.wait_for(speaker.output.total + RATE // 4, LIMIT)
    assert speaker.player.now_playing().position_seconds > position  # it went on from where it was
    assert speaker.say("next song") == "Next: Freddie Freeloader by Miles Davis."
    assert speaker.say("skip this one") == "Next: Feeling Good."
    assert speaker.say("next") == "That's the last one in the queue."
    assert speaker.say("stop the music") == "Stopped."
    assert speaker.player.state is PlayerState.STOPPED
    assert speaker.say("what's playing") == "Nothing is playing."
    assert speaker.say("resume") == "There's nothing paused to resume."


def test_words_choose_what_to_play(speaker_for, music):
    speaker = speaker_for(MediaSettings(music_folder=str(music), sample_rate=RATE))
    assert speaker.say("play some nina simone") == "Playing Feeling Good."
    assert speaker.say("play music by miles davis") == "Playing So What by Miles Davis."
    assert speaker.player.now_playing().queued == 2
    assert speaker.say("play some polka") == "I found no music matching polka in your music folder."


def test_the_volume_skill_sets_the_sinks_gain(speaker_for, music):
    speaker = speaker_for(MediaSettings(music_folder=str(music), sample_rate=RATE))
    assert speaker.say("set the volume to 10") == "Volume 10."
    speaker.say("play some nina simone")
    loud = speaker.level_db()
    assert speaker.say("set the volume to 6") == "Volume 6."
    assert speaker.level_db() - loud == pytest.approx(-12.0, abs=0.3)
    assert speaker.say("turn the volume up") == "Volume 7."
    assert speaker.level_db() - loud == pytest.approx(-9.0, abs=0.3)
    assert speaker.say("mute") == "Muted."
    assert speaker.level_db() < -120


def test_the_stored_volume_is_the_players_from_the_start(speaker_for, music, tmp_path):
    first = speaker_for(MediaSettings(music_folder=str(music), sample_rate=RATE))
    first.say("set the volume to 4")
    first.close()
    again = speaker_for(MediaSettings(music_folder=str(music), sample_rate=RATE))
    assert again.player.target_gain == pytest.approx(10 ** (-18 / 20))


def test_a_radio_station_plays_and_an_unreachable_one_is_said(speaker_for, tmp_path):
    loop = write_tone(tmp_path / "loop.mp3", seconds=3.0, frequency=523.0)
    with RadioServer(loop) as radio:
        stations = f"Jazz FM={radio.url}, Gone FM=http://127.0.0.1:9/stream"
        speaker = speaker_for(MediaSettings(music_folder=str(tmp_path / "none"), stations=stations, sample_rate=RATE,
                                            open_timeout_seconds=2.0))
        assert speaker.say("play jazz fm radio") == "Playing Jazz FM."
        assert speaker.output.wait_for(RATE, LIMIT)
        assert speaker.say("what's playing") == "This is Jazz FM."
        assert speaker.say("next song") == "Jazz FM is a radio station: there's no next track to skip to."
        assert speaker.say("tune in to gone fm") == "Sorry, I can't reach Gone FM right now."
        assert speaker.say("play the radio station polka heaven") == \
            "I don't know a station called polka heaven. I know Jazz FM, Gone FM."


def test_without_a_player_or_music_the_answers_are_honest(speaker_for, tmp_path):
    speaker = speaker_for(MediaSettings(music_folder=str(tmp_path / "empty")), with_player=False)
    assert speaker.say("play some music").startswith("I can't play music here")
    assert speaker.say("pause the music") == "Nothing is playing."
    with_player = speaker_for(MediaSettings(music_folder=str(tmp_path / "empty"), sample_rate=RATE))
    assert with_player.say("play some music") == f"There's no music in your music folder yet ({tmp_path / 'empty'})."
    assert with_player.say("play the radio") == "No radio stations are set up on this speaker yet (media.stations)."
