"""`edge doctor`: microphone and speaker, models, disk, clock, cloud, screens, satellites, update keys.

    edge doctor            # one line per check, and a one-line fix under each problem
    edge doctor --json     # one JSON object per check

Exits 0 when nothing failed (warnings allowed), 1 when a check failed.
"""

from __future__ import annotations

import argparse
import json

from edge.core.errors import ExitCode
from edge.core.settings import Settings


def add_commands(commands, common: argparse.ArgumentParser) -> None:
    doctor = commands.add_parser(
        "doctor", parents=[common], help="check this speaker: audio, models, disk, clock, cloud, screens, satellites",
        description="Check the microphone and speaker, the models, free disk, the clock, the cloud LLM, paired "
        "screens, satellites and the update keys; each problem comes with a one-line fix. Changes nothing.",
    )
    doctor.add_argument("--json", action="store_true", help="one JSON object per check")
    doctor.add_argument("--screen-wait", type=float, default=2.0, metavar="SECONDS",
                        help="listen this long for screens on the network (default 2)")
    doctor.set_defaults(handler=_run_doctor)


def _run_doctor(args: argparse.Namespace, settings: Settings) -> int:
    from edge.runtime.doctor import run_checks

    failed = 0
    for check in run_checks(settings, args.screen_wait):
        print(json.dumps(check.to_dict(), ensure_ascii=False) if args.json else check.line(), flush=True)
        failed += check.status == "fail"
    if not args.json:
        print(f"\n{'no problems' if not failed else f'{failed} check(s) failed'}")
    return ExitCode.FAILED if failed else ExitCode.OK
