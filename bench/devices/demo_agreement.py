"""Does the speaker hold the same conversation on another machine? The bundled demo, turn by turn.

    python -m bench.devices.demo_agreement --out x86.json
    qemu-aarch64-static -L ROOT ROOT/usr/bin/python3.11 -m bench.devices.demo_agreement --out arm64.json
    python -m bench.devices.demo_agreement --compare x86.json arm64.json --result NAME

Each run plays the demo conversation (edge/runtime/demo: six recorded requests) through the one
`Turn` (ONNX Whisper, the shipped intent bundle, the skills, the Piper voice unless --no-tts) on a
fixed clock and a fresh database, and writes what it heard, understood and replied. `--compare`
says whether two runs agree: the same transcript, intent, slots, route and reply on every turn
(the reply audio's length within 8 %: Piper's durations are random), and, with --result, writes the report to bench/results/.
`make arm64-demo` runs both sides, the second under ARM64 emulation (see the Makefile).
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[2]
FIXED_CLOCK = datetime(2026, 3, 2, 9, 30, tzinfo=ZoneInfo("UTC"))  # "what time is it" must say the same on both
# Piper draws phoneme durations at random (noise_w): four runs on one x86 machine gave 3.379-3.576 s
# for the same reply (6 %). A length outside this is a different reading, not chance.
AUDIO_TOLERANCE = 0.08
COMPARED = ("transcript", "intent", "slots", "route", "skill", "reply")


def play_demo(with_tts: bool, onnx_dir: str = "") -> dict[str, Any]:
    import onnxruntime

    from edge.audio.wavio import read_request_audio
    from edge.core.settings import load_settings
    from edge.runtime.demo import demo_turns
    from edge.runtime.turn import Turn

    with tempfile.TemporaryDirectory() as folder:
        overrides = {"skills.database_path": str(Path(folder) / "edge.sqlite3"), "skills.entry_points": False,
                     "cast.enabled": False, "router.log_training_data": False, "asr.engine": "onnx-whisper",
                     "asr.build_onnx": False, "skills.timezone": "UTC"}
        if onnx_dir:
            overrides["asr.onnx_dir"] = onnx_dir
        settings = load_settings(environ={}, overrides=overrides)
        started = time.perf_counter()
        turns = []
        with Turn.load(settings, with_tts=with_tts, clock=lambda: FIXED_CLOCK) as turn:
            loaded = time.perf_counter() - started
            for demo in demo_turns():
                trace = turn.run_audio(read_request_audio(demo.wav, 16000), session="demo").trace.to_dict()
                turns.append({"wav": demo.wav.name, "said": demo.text, "expected_intent": demo.intent,
                              **{key: trace.get(key) for key in COMPARED},
                              "reply_audio_seconds": trace.get("reply_audio_seconds", 0.0),
                              "stages_ms": trace.get("stages_ms", {})})
    return {"machine": platform.machine(), "python": platform.python_version(), "onnxruntime": onnxruntime.__version__,
            "tts": with_tts, "load_seconds": round(loaded, 2), "clock": FIXED_CLOCK.isoformat(), "turns": turns}


def compare(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    if [turn["wav"] for turn in first["turns"]] != [turn["wav"] for turn in second["turns"]]:
        raise ValueError("the two runs played different conversations")
    rows = []
    for a, b in zip(first["turns"], second["turns"], strict=True):
        differs = [key for key in COMPARED if a.get(key) != b.get(key)]
        longer = max(a["reply_audio_seconds"], b["reply_audio_seconds"])
        if longer and abs(a["reply_audio_seconds"] - b["reply_audio_seconds"]) > AUDIO_TOLERANCE * longer:
            differs.append("reply_audio_seconds")
        rows.append({"wav": a["wav"], "said": a["said"], "agree": not differs, "differs": differs,
                     "first": {key: a.get(key) for key in (*COMPARED, "reply_audio_seconds")},
                     "second": {key: b.get(key) for key in (*COMPARED, "reply_audio_seconds")}})
    return {
        "turns": len(rows),
        "agreeing_turns": sum(row["agree"] for row in rows),
        "passes": all(row["agree"] for row in rows),
        "expected_intents": {side: sum(turn["intent"] == turn["expected_intent"] for turn in run["turns"])
                             for side, run in (("first", first), ("second", second))},
        "first": f"{first['machine']}, onnxruntime {first['onnxruntime']}, Python {first['python']}",
        "second": f"{second['machine']}, onnxruntime {second['onnxruntime']}, Python {second['python']}",
        "tts": first["tts"] and second["tts"],
        "load_seconds": {"first": first["load_seconds"], "second": second["load_seconds"]},
        "first_command": first.get("command", ""),
        "second_command": second.get("command", ""),
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.devices.demo_agreement", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="write this machine's run here (JSON)")
    parser.add_argument("--no-tts", action="store_true", help="do not speak the replies (compare the text only)")
    parser.add_argument("--onnx-dir", default="", help="the Whisper ONNX graphs (default: the user cache); "
                        "built beforehand, as this never builds them")
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("FIRST", "SECOND"), help="compare two runs")
    parser.add_argument("--result", default="", help="with --compare: also write bench/results/NAME.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.compare:
        try:
            first, second = (json.loads(path.read_text()) for path in args.compare)
            report = compare(first, second)
        except (OSError, ValueError, KeyError, TypeError) as error:  # not two runs of this benchmark
            print(f"bench.devices.demo_agreement: cannot compare {args.compare[0]} and {args.compare[1]}: "
                  f"{type(error).__name__}: {error} (each must be a file written by --out)", file=sys.stderr)
            return 2
        if args.result:
            sys.path.insert(0, str(ROOT))
            from bench.provenance import write_result

            command = "python -m bench.devices.demo_agreement --compare " + " ".join(
                [*(path.name for path in args.compare), "--result", args.result])
            path = write_result(args.result, {"command": command, **report}, ["onnxruntime", "piper-tts"])
            print(f"wrote {path.relative_to(ROOT)}")
        print(f"{report['agreeing_turns']}/{report['turns']} turns agree: {report['first']} vs {report['second']}")
        for row in report["rows"]:
            if not row["agree"]:
                print(f"  {row['wav']}: {', '.join(row['differs'])}: {row['first']} vs {row['second']}")
        return 0 if report["passes"] else 1
    run = play_demo(not args.no_tts, args.onnx_dir)
    run["command"] = " ".join(["python", "-m", "bench.devices.demo_agreement", *(argv if argv is not None else sys.argv[1:])])
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(run, indent=1) + "\n")
    for turn in run["turns"]:
        print(f"{turn['wav']}: heard {turn['transcript']!r} -> {turn['intent']} -> {turn['reply']!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
