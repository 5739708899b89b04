"""`edge update PACKAGE.tar.zst`, `edge update --check` and `edge update --rollback`: signed intent
models, installed safely.

    sudo edge update hwu64-v2.tar.zst --restart     # verify, self-check, swap; restart the service
    sudo edge update --check --restart              # the line's latest (update.product, update.source)
    sudo edge update --rollback                     # back to the bundle before

A refused package (unsigned, tampered, truncated, failing its self-check) is one line on stderr,
exit code 2, and nothing changes; an unreachable source exits 1. See docs/service.md,
edge/runtime/update.py and edge/runtime/line.py.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

from edge.core.errors import ExitCode
from edge.core.settings import Settings


def add_commands(commands, common: argparse.ArgumentParser) -> None:
    update = commands.add_parser(
        "update", parents=[common], help="install a signed intent model package, or roll back",
        description="Verify PACKAGE (.tar.zst, made by `distill promote --sign`) against the keys in "
        "update.trusted_keys_dir, unpack it beside the current bundle, self-check it on this device (its "
        "regression sentences, update.latency_budget_ms), and swap it in atomically; --check fetches the product "
        "line's latest package from update.source first; --rollback goes back.",
    )
    update.add_argument("package", type=Path, nargs="?", help="the signed package (BUNDLE.tar.zst)")
    update.add_argument("--check", action="store_true",
                        help="poll update.source once for update.product's latest bundle and install it if it is new")
    update.add_argument("--rollback", action="store_true", help="make the previous bundle current again")
    update.add_argument("--restart", action="store_true",
                        help="then `systemctl try-restart` the service (service.unit_name) so it loads the bundle")
    update.set_defaults(handler=_run_update)


def _run_update(args: argparse.Namespace, settings: Settings) -> int:
    from edge.runtime.line import check_source
    from edge.runtime.update import install_package, rollback

    if [args.rollback, args.check, args.package is not None].count(True) != 1:
        print("edge update: give a PACKAGE.tar.zst, or --check, or --rollback", file=sys.stderr)
        return ExitCode.BAD_INPUT
    if args.check:
        outcome = check_source(settings)
    else:
        outcome = rollback(settings) if args.rollback else install_package(args.package, settings)
    print(outcome.line())
    if args.restart and outcome.action != "already installed":
        unit = f"{settings.service.unit_name}.service"
        if shutil.which("systemctl") is None or subprocess.run(["systemctl", "try-restart", unit]).returncode != 0:
            print(f"edge update: could not restart {unit}; restart it to load the bundle", file=sys.stderr)
            return ExitCode.FAILED
        print(f"restarted {unit}")
    elif outcome.action != "already installed":
        print(f"the running speaker keeps its loaded bundle until it restarts (systemctl restart {settings.service.unit_name})")
    return ExitCode.OK
