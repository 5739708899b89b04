"""Time from the first streamed LLM token to the first reply audio (target: at most 200 ms).

    python -m bench.llm_first_audio [--repeats 2]

Starts llama.cpp's server with the bundled Gemma 3 270M (the real OpenAI-compatible peer), points
`llm.base_url` at it, and runs escalated text turns through the whole pipeline: router → stream
→ speech chunker → Piper. Reads each trace's `first_token_to_first_audio` (the first token's
arrival at the client to the first synthesized audio of the reply), split into the wait for the
first speakable piece and its synthesis; the wait for the first token; end of request to first
audio. The machine's load average is recorded: other work slows both the model and Piper. Writes bench/results/llm_first_audio.json.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np

from bench.provenance import write_result
from edge.core.settings import LlmSettings, OfflineSettings, load_settings
from edge.llm.offline import LlamaServer
from edge.runtime.turn import Turn

PACKAGES = ("edge-voice", "llama-cpp-python", "httpx", "piper-tts", "onnxruntime")
QUESTIONS = (
    "why is the sky blue",
    "what is the capital of australia",
    "who painted the mona lisa",
    "how do airplanes stay in the air",
    "recommend a good science fiction movie",
    "what is the meaning of life",
    "what is photosynthesis",
    "how far away is the moon",
    "tell me something about the roman empire",
    "why do cats purr",
)
TARGET_MS = 200.0


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50": round(float(np.percentile(values, 50)), 1), "p95": round(float(np.percentile(values, 95)), 1),
        "max": round(float(np.max(values)), 1), "mean": round(float(np.mean(values)), 1), "n": len(values),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=2, help="passes over the questions (default 2)")
    parser.add_argument("--threads", type=int, default=1, help="llama.cpp threads (default 1: the machine is shared)")
    parser.add_argument("--first-piece-wait", type=float, default=LlmSettings().first_piece_wait_seconds,
                        help="llm.first_piece_wait_seconds (default: the setting's default)")
    args = parser.parse_args()
    load_before = round(os.getloadavg()[0], 2)  # other work on the machine slows both the model and Piper
    server = LlamaServer(OfflineSettings(port=0, threads=args.threads))
    server.start()
    try:
        if not server.wait_ready(180):
            raise SystemExit(f"llama.cpp server did not start; see {server.log_path}")
        with tempfile.TemporaryDirectory() as scratch:
            turns = run_turns(server, Path(scratch), args.repeats, args.first_piece_wait)
    finally:
        server.stop()
    stages = {name: summary([t["stages_ms"][name] for t in turns if name in t["stages_ms"]])
              for name in ("first_token_to_first_audio", "first_piece_wait", "first_piece_tts", "llm_first_token",
                           "end_of_speech_to_first_audio", "llm_answer")}
    result = {
        "server": {"model": server.model_path.name, "threads": args.threads, "command": " ".join(server.command()[1:])},
        "load_average_1min_before_after": [load_before, round(os.getloadavg()[0], 2)],
        "cpu_count": os.cpu_count(),
        "first_piece_wait_seconds": args.first_piece_wait,
        "target_first_token_to_first_audio_ms": TARGET_MS,
        "meets_target_p95": stages["first_token_to_first_audio"]["p95"] <= TARGET_MS,
        "stages_ms": stages,
        "turns": [{"question": t["transcript"], "route": t["route"], "first_piece": t["reply"][:80],
                   "first_token_to_first_audio_ms": t["stages_ms"].get("first_token_to_first_audio")} for t in turns],
    }
    path = write_result("llm_first_audio", result, PACKAGES)
    print(f"wrote {path}")
    print(f"first token -> first audio: {stages['first_token_to_first_audio']} (target <= {TARGET_MS:g} ms)")


def run_turns(server: LlamaServer, scratch: Path, repeats: int, first_piece_wait: float) -> list[dict]:
    settings = load_settings(environ={}, overrides={
        "skills.database_path": str(scratch / "edge.sqlite3"), "llm.base_url": server.base_url,
        "llm.total_timeout_seconds": "60", "llm.read_timeout_seconds": "30", "llm.max_tokens": "48",
        "llm.context_turns": "0", "llm.first_piece_wait_seconds": str(first_piece_wait),
    })
    pipeline = Turn.load(settings, with_asr=False)
    try:
        pipeline.run_text(QUESTIONS[0])  # warm-up: the server's first prompt and Piper's first sentence
        traces = [pipeline.run_text(question).trace.to_dict() for _ in range(repeats) for question in QUESTIONS]
    finally:
        pipeline.close()
    cloud = [trace for trace in traces if trace["route"] == "cloud"]
    if len(cloud) < len(traces):
        print(f"warning: {len(traces) - len(cloud)} turns were not answered by the server")
    return cloud


if __name__ == "__main__":
    main()
