"""Music through the whole live loop on real models: "alexa, play some music" (the real wake word
recording, the request spoken by the bundled voice) starts the PyAV player on a file made here,
the reply ducks it, and a spoken "stop the music" without the wake word stops it."""

from __future__ import annotations

import sys
from pathlib import Path

import soundfile

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from helpers.media_files import write_tone  # noqa: E402
from helpers.whisper_onnx_fixture import ensure_whisper_onnx  # noqa: E402

from bench.conversation import Segment, alexa_clips, build  # noqa: E402
from bench.stop_word import clean_take, piper_takes  # noqa: E402
from edge.audio.files import FileSink, FileSource  # noqa: E402
from edge.audio.wavio import write_wav  # noqa: E402
from edge.core.settings import load_settings  # noqa: E402
from edge.core.stages import PlayerState  # noqa: E402


def test_play_music_then_stop_without_the_wake_word(tmp_path):
    from edge.runtime.live import LiveLoop

    ensure_whisper_onnx()
    folder = tmp_path / "Music"
    folder.mkdir()
    write_tone(folder / "Long Tone.flac", seconds=60.0, frequency=440.0, title="Long Tone")
    music_wav = tmp_path / "music-out.wav"
    settings = load_settings(environ={}, overrides={
        "skills.database_path": str(tmp_path / "edge.sqlite3"), "asr.engine": "onnx-whisper",
        "media.music_folder": str(folder), "media.output": str(music_wav)})
    request = piper_takes(["play some music"], [1.0], 1)[0][2]
    recording = tmp_path / "conversation.wav"
    loop = LiveLoop.load(settings)
    stop = clean_take("stop the music", lambda samples: loop.turn.transcribe(samples).text, through_listener=True)  # bench/stop_word.py counts misses
    audio, _ = build([Segment(alexa_clips(1)[0], request, pause_after_seconds=5.0),
                      Segment(None, stop, pause_after_seconds=2.0)])
    write_wav(recording, (audio * 32767).astype("int16"), 16000)
    try:
        traces = loop.run(FileSource(recording), FileSink(tmp_path))
        player = loop.playback.media
        assert [trace.skill for trace in traces] == ["media"], [trace.to_dict() for trace in traces]
        assert traces[0].reply == "Playing Long Tone."
        assert [heard.word for heard in loop.playback.heard] == ["stop the music"], loop.playback.stop.last_transcript
        assert player.state is PlayerState.STOPPED
    finally:
        loop.close()
    played = soundfile.info(str(music_wav)).duration
    assert 0.0 < played < 30.0  # music reached its sink, and stopped long before the file's end
