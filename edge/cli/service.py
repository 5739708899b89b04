"""`edge service install | uninstall | unit`: the speaker as a systemd service (docs/service.md).

    sudo edge service install --enable          # unit, /etc/edge/edge.toml, /var/lib/edge; start it
    edge service install --root /tmp/stage      # the same files under a staging root (tests, images)
    sudo edge service uninstall [--purge]       # the unit and the settings file; --purge: state too
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import subprocess
import sys
from pathlib import Path

from edge.core.errors import ExitCode
from edge.core.settings import Settings

ACTIONS = ("install", "uninstall", "unit")


def add_commands(commands, common: argparse.ArgumentParser) -> None:
    group = commands.add_parser(
        "service", help="run the speaker as a systemd service: install, uninstall",
        description="Write (or remove) a systemd unit that runs the speaker with a watchdog, its settings file "
        "/etc/edge/edge.toml and its state in /var/lib/edge. See docs/service.md.",
    )
    actions = group.add_subparsers(dest="service_command", required=True, metavar="ACTION")
    install = actions.add_parser("install", parents=[common], help="write the unit, the settings file and the state folders")
    _common_options(install)
    install.add_argument("--command", dest="runs", choices=("run", "bridge"),
                         help="what the service runs (service.command; default run)")
    install.add_argument("--user", help="run as this existing user (service.user; default: a dynamic user in the audio group)")
    install.add_argument("--enable", action="store_true", help="then `systemctl daemon-reload` and `enable --now` (root / only)")
    install.set_defaults(handler=_run_install)
    uninstall = actions.add_parser("uninstall", parents=[common], help="remove the unit and the settings file")
    _common_options(uninstall)
    uninstall.add_argument("--purge", action="store_true", help="also remove the state, the cache and the trusted keys")
    uninstall.set_defaults(handler=_run_uninstall)
    unit = actions.add_parser("unit", parents=[common], help="print the unit file install would write")
    unit.add_argument("--command", dest="runs", choices=("run", "bridge"), help="what the service runs")
    unit.add_argument("--user", help="run as this existing user")
    unit.set_defaults(handler=_run_unit, root=Path("/"))


def _common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", type=Path, default=Path("/"), help="write under this staging root instead of / (tests, images)")


def _plan(args: argparse.Namespace, settings: Settings):
    from edge.runtime.service import ServicePlan, edge_executable

    service = settings.service
    # `--command` is stored as `runs`: `args.command` is the top-level command ("service")
    changes = {key: value for key, value in (("command", getattr(args, "runs", None)),
                                              ("user", getattr(args, "user", None))) if value}
    return ServicePlan.for_settings(dataclasses.replace(service, **changes), args.root, edge_executable())


def _run_unit(args: argparse.Namespace, settings: Settings) -> int:
    from edge.runtime.service import render_unit

    print(render_unit(_plan(args, settings)), end="")
    return ExitCode.OK


def _run_install(args: argparse.Namespace, settings: Settings) -> int:
    from edge.nlu.runtime import default_bundle_dir
    from edge.runtime.service import install

    plan = _plan(args, settings)
    for path in install(plan, default_bundle_dir()):
        print(f"wrote {path}")
    name = plan.settings.unit_name
    if args.enable:
        if args.root != Path("/") or shutil.which("systemctl") is None:
            print("edge service install: --enable needs systemctl and the real root (/)", file=sys.stderr)
            return ExitCode.UNAVAILABLE
        for command in (["systemctl", "daemon-reload"], ["systemctl", "enable", "--now", f"{name}.service"]):
            if subprocess.run(command).returncode != 0:
                print(f"edge service install: `{' '.join(command)}` failed", file=sys.stderr)
                return ExitCode.FAILED
        print(f"started {name}.service: journalctl -u {name} -f")
    elif args.root == Path("/"):
        print(f"next: systemctl daemon-reload && systemctl enable --now {name}.service")
    return ExitCode.OK


def _run_uninstall(args: argparse.Namespace, settings: Settings) -> int:
    from edge.runtime.service import uninstall

    plan = _plan(args, settings)
    name = plan.settings.unit_name
    if args.root == Path("/") and shutil.which("systemctl") is not None:
        subprocess.run(["systemctl", "disable", "--now", f"{name}.service"], capture_output=True)
    removed = uninstall(plan, purge=args.purge)
    for path in removed:
        print(f"removed {path}")
    if not removed:
        print(f"edge service uninstall: nothing of {name}.service under {args.root}")
    return ExitCode.OK
