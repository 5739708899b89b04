"""Run a command while other processes keep every core busy (CI sharing its machine).

    python tests/run_busy.py -- bash .ci/run            # one spinning process per core
    python tests/run_busy.py --spinners 4 -- make test  # load 4 on a 2-core machine

The spinners are started before the command and stopped after it, whatever its outcome; the
command's exit status is returned.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spinners", type=int, default=os.cpu_count() or 2, help="busy processes (default: one per core)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command, after --")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --")
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.spinners)]
    started = time.monotonic()
    try:
        return subprocess.call(command)
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()
        print(f"run_busy: {' '.join(command)} took {time.monotonic() - started:.0f} s beside "
              f"{len(spinners)} spinning processes", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
