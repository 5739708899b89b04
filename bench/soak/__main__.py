"""Soak: a bounded mixed load on loopback, with faults, for a set time (issue 19).

    python -m bench.soak [--seconds 600] [--satellites 8] [--out bench/results/soak.json]

`edge bridge serve` (real models) serves 8 satellites that prove their keys and ask for timers,
reminders, list items, list queries (whose cards go to a paired `edge cast companion`), cloud
answers and the demo requests, round and round; a UART board on a pseudo-terminal asks the demo
requests. Meanwhile the LLM server hangs, errors and recovers, the board is unplugged and plugged
in again, and the runtime is killed with -9 twice just after acknowledging a write and started
again. Reported: turns served and their p95 latency, the runtime's RSS and file descriptors over
each start, alerts due vs rung, and rows acknowledged before each kill vs present after it.
Targets: every alert rung, no acknowledged row lost, RSS growth < 10 %, no descriptor growth.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys
import tempfile
from pathlib import Path

from bench.provenance import RESULTS_DIR, write_result

PACKAGES = ("edge-voice", "onnxruntime", "faster-whisper", "ctranslate2", "piper-tts", "numpy", "aiohttp", "pyserial", "zeroconf")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=600.0, help="length of the load (default 600; CI runs 60)")
    parser.add_argument("--satellites", type=int, default=8, help="Wyoming satellites talking at once (default 8)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "soak.json", help="where the JSON goes")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="work in DIR and keep it (the runtime's log, databases)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log the timeline as it happens")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or not 1 <= args.satellites <= 64:
        parser.error("--seconds must be positive and --satellites between 1 and 64")
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    from bench.soak.run import Soak

    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
    folder = contextlib.nullcontext(str(args.keep)) if args.keep else tempfile.TemporaryDirectory(prefix="edge-soak-")
    with folder as scratch:
        try:
            result = asyncio.run(Soak(args.seconds, args.satellites, Path(scratch)).run())
        except RuntimeError as error:
            print(f"bench.soak: {error}", file=sys.stderr)
            log = Path(scratch) / "runtime.log"
            if log.is_file():
                print(log.read_text()[-4000:], file=sys.stderr)
            return 1
    result["command"] = " ".join(["python -m bench.soak", *(argv if argv is not None else sys.argv[1:])])
    path = write_result("soak", result, PACKAGES, args.out)
    print(json.dumps({key: result[key] for key in ("targets",)}, indent=2))
    turns, alerts = result["turns"], result["alerts"]
    print(f"turns served {turns['served']}/{turns['asked']}, p95 {turns['latency_ms'].get('p95')} ms; "
          f"alerts rung {alerts['rung']}/{alerts['due']}; rows {[(r['committed'], r['present']) for r in result['rows']]}")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
