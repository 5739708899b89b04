"""The `distill` command. Subcommands:

    distill baseline --out DIR        fine-tune MiniLM on HWU64 (+ out-of-scope) into a bundle
    distill baseline --evaluate-only DIR   re-measure a bundle on HWU64 test + CLINC150 oos_test
"""

from __future__ import annotations

import sys
from typing import Optional, Sequence

USAGE = __doc__


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help"}:
        print(USAGE.strip())
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command == "baseline":
        from distill.baseline import main as baseline_main

        return baseline_main(rest)
    print(f"distill: unknown command {command!r}\n\n{USAGE.strip()}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
