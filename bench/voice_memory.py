"""The Piper voice's memory after long replies, and its speed, with and without onnxruntime's arena.

    python -m bench.voice_memory            # writes bench/results/voice_memory.json (about a minute)

bench/soak found one RSS step of ~85 MiB per runtime start, a minute or so into the load, that
then stayed: the CPU arena keeps the memory of the largest run it has served, and a voice's runs
differ ten-fold in size with the sentence. Each mode runs in its own process (a fresh heap), the two
alternating for `--rounds` rounds so both see the same machine load:

- `arena`: onnxruntime's default CPU arena (what the runtime did before);
- `no-arena+trim-every`: `memory_arena=False` for the voice's session and `malloc_trim` after every
  sentence;
- `no-arena+trim-long`: the same, trimming only after sentences of `TRIM_AFTER_CHARACTERS` or more
  (what `edge.tts.piper.PiperTts` does now).

Per mode: RSS after a short warm-up reply, after the long replies, and after more short replies
(the level a speaker idles at), and the synthesis time of short and long replies (median).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from bench.provenance import write_result
from edge.tts.piper import TRIM_AFTER_CHARACTERS

SHORT = ["It is ten past five.", "Your timer is set for ten minutes.", "The kitchen light is on."]
LONG = ("Tomorrow in Paris it will be mostly cloudy in the morning, with light rain from about noon, a high of "
        "twelve degrees and a low of six, and the wind from the south west at fifteen kilometres an hour, "
        "so take an umbrella if you go out after lunch and a warm coat for the evening.")
MODES = ("arena", "no-arena+trim-every", "no-arena+trim-long")


def rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def measure(mode: str, long_replies: int) -> dict:
    """One process's figures (run with --child MODE)."""
    from devices.sessions import SessionFactory
    from edge.core.settings import TtsSettings
    from edge.tts import piper

    if mode == "arena":  # the voice as it was: the factory's default session, nothing trimmed
        original = SessionFactory.create
        SessionFactory.create = lambda self, *args, memory_arena=True, **kw: original(self, *args, memory_arena=True, **kw)
        piper.release_freed_memory = lambda: False
    if mode == "no-arena+trim-every":
        piper.TRIM_AFTER_CHARACTERS = 0
    voice = piper.PiperTts(TtsSettings())

    def timed(text: str) -> float:
        began = time.perf_counter()
        voice.synthesize_all(text)
        return (time.perf_counter() - began) * 1000

    for text in SHORT:
        timed(text)
    warm = rss_mib()
    long_ms = [timed(LONG) for _ in range(long_replies)]
    after_long = rss_mib()
    short_ms = [timed(text) for text in SHORT * 3]
    return {"mode": mode, "rss_mib_warm": round(warm, 1), "rss_mib_after_long": round(after_long, 1),
            "rss_mib_after_short": round(rss_mib(), 1), "short_reply_ms_median": round(statistics.median(short_ms), 1),
            "long_reply_ms_median": round(statistics.median(long_ms), 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="alternating runs of each mode")
    parser.add_argument("--long-replies", type=int, default=3)
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure(args.child, args.long_replies)))
        return 0
    runs = []
    for round_index in range(args.rounds):
        for mode in MODES:
            done = subprocess.run([sys.executable, "-m", "bench.voice_memory", "--child", mode, "--long-replies",
                                   str(args.long_replies)], capture_output=True, text=True, check=True)
            runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(f"round {round_index + 1} {runs[-1]}", flush=True)
    summary = {}
    for mode in MODES:
        mine = [run for run in runs if run["mode"] == mode]
        summary[mode] = {key: round(statistics.median(run[key] for run in mine), 1) for key in mine[0] if key != "mode"}
        summary[mode]["rss_step_mib"] = round(summary[mode]["rss_mib_after_short"] - summary[mode]["rss_mib_warm"], 1)
    arena = summary["arena"]
    result = {"long_reply_characters": len(LONG), "trim_after_characters": TRIM_AFTER_CHARACTERS, "runs": runs,
              "summary": summary,
              "time_vs_arena": {mode: {"short_reply": round(summary[mode]["short_reply_ms_median"] / arena["short_reply_ms_median"], 3),
                                       "long_reply": round(summary[mode]["long_reply_ms_median"] / arena["long_reply_ms_median"], 3)}
                                for mode in MODES[1:]}}
    path = write_result("voice_memory", result, ["onnxruntime", "piper-tts"])
    for mode in MODES:
        ratios = result["time_vs_arena"].get(mode, {"short_reply": 1.0, "long_reply": 1.0})
        print(f"{mode}: RSS kept after long replies +{summary[mode]['rss_step_mib']} MiB; time vs arena: short "
              f"x{ratios['short_reply']}, long x{ratios['long_reply']}")
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
