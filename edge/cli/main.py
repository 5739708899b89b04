"""The `edge` command: one parser with grouped subcommands, one set of exit codes.

    edge ask | run | chat                    # turns (edge/cli/turns.py, edge/cli/chat.py)
    edge skills list | examples              # installed skills
    edge cast companion | screens | pair | send
    edge bridge serve | satellite            # Wyoming satellites, Home Assistant, UART boards
    edge data privacy | flywheel             # what left the device, the training log
    edge devices show | bench                # the board and its providers
    edge service install | uninstall | unit  # a systemd service with a watchdog (edge/cli/service.py)
    edge doctor                              # is this speaker healthy? one-line fixes (edge/cli/doctor.py)
    edge update PACKAGE | --rollback         # a signed intent model: verify, self-check, swap (edge/cli/update.py)

Every handler gets `(args, settings)` and returns an exit code; an `EdgeError` that escapes one
is printed as one line (its message says how to fix it) with the error's exit code. The old flat
names (`edge bridge serve`, `edge cast pair`, `edge data privacy`…) still work for one release, with a line saying
the new one.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edge.core.errors import EdgeError, ExitCode
from edge.core.journal import JournalFormatter
from edge.core.memory import limit_malloc_arenas
from edge.core.settings import Settings, SettingsError, load_settings

logger = logging.getLogger(__name__)

# Modules that add subcommands: each has `add_commands(commands, common)` which adds its parsers
# (a group with its actions, or a top-level turn command) with `parents=[common]` and sets
# `handler=fn(args, settings) -> int`.
SUBCOMMAND_MODULES: tuple[str, ...] = (
    "edge.cli.turns", "edge.cli.chat", "edge.cli.skills", "edge.cli.cast", "edge.cli.bridge", "edge.cli.data",
    "edge.cli.devices", "edge.cli.service", "edge.cli.doctor",
    "edge.cli.update",
)
# Old command -> its new words (kept for one release).
RENAMED: dict[str, tuple[str, ...]] = {
    "serve": ("bridge", "serve"), "satellite": ("bridge", "satellite"), "companion": ("cast", "companion"),
    "screens": ("cast", "screens"), "pair": ("cast", "pair"), "unpair": ("cast", "unpair"), "privacy": ("data", "privacy"),
    "flywheel": ("data", "flywheel"),
}
GROUP_DEFAULTS: dict[str, tuple[tuple[str, ...], str]] = {  # a group called without an action
    "cast": (("companion", "screens", "pair", "unpair", "send"), "send"),  # the old `edge cast CARD.json`
    "devices": (("show", "bench"), "show"),                      # the old `edge devices [--json]`
}


def main(argv: Sequence[str] | None = None) -> int:
    limit_malloc_arenas()  # before any thread allocates: worker threads' heaps kept freed memory (bench/soak)
    argv = modernize(list(sys.argv[1:] if argv is None else argv))
    args = build_parser().parse_args(argv)
    configure_logging(args.verbose, args.log_format)
    try:
        return int(args.handler(args, settings_from_args(args)))
    except EdgeError as error:  # the one place a library error reaches the user: one line, its exit code
        logger.debug("command failed", exc_info=True)
        print(f"edge: {error}", file=sys.stderr)
        return int(error.exit_code)
    except KeyboardInterrupt:
        return int(ExitCode.OK)


def configure_logging(verbose: int, log_format: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JournalFormatter() if log_format == "journal" else
                         logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING,
                        handlers=[handler])


def modernize(argv: list[str]) -> list[str]:
    """The argument list with an old command name replaced by the new one (and a line saying so)."""
    index = next((i for i, word in enumerate(argv) if not word.startswith("-")), None)
    if index is None:
        return argv
    word = argv[index]
    if word in RENAMED:
        new = RENAMED[word]
        print(f"edge: `edge {word}` is now `edge {' '.join(new)}`; the old name goes in the next release",
              file=sys.stderr)
        return [*argv[:index], *new, *argv[index + 1:]]
    if word in GROUP_DEFAULTS:
        actions, default = GROUP_DEFAULTS[word]
        rest = argv[index + 1:]
        if not any(item in actions or item in ("-h", "--help") for item in rest[:1]):
            if word == "cast" and rest:
                print("edge: `edge cast CARD` is now `edge cast send CARD`; the old form goes in the next release",
                      file=sys.stderr)
            return [*argv[:index + 1], default, *rest]
    return argv


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edge", description="On-device voice assistant runtime.")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, help="settings file (TOML); default $EDGE_CONFIG, else "
                        "~/.config/edge/edge.toml if it exists (./edge.toml only when named here)")
    common.add_argument(
        "--set", action="append", default=[], metavar="SECTION.FIELD=VALUE",
        help="override one setting, e.g. --set asr.beam_size=2 (repeatable)",
    )
    common.add_argument("-v", "--verbose", action="count", default=0, help="log more (-vv for debug)")
    common.add_argument("--log-format", choices=("text", "journal"), default="text",
                        help="journal: a syslog priority prefix per line, for systemd's journal (the service uses it)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in SUBCOMMAND_MODULES:
        importlib.import_module(module_name).add_commands(commands, common)
    return parser


def settings_from_args(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    for item in args.set:
        key, equals, value = item.partition("=")
        if not equals:
            raise SettingsError(f"--set {item!r}: write it as SECTION.FIELD=VALUE")
        overrides[key.strip()] = value.strip()
    return load_settings(settings_file(args.config), overrides=overrides)


def settings_file(named: Path | None, environ=None) -> Path | None:
    """The settings file to read: the one named, else $EDGE_CONFIG, else the user's own if it exists.

    A file in the working directory is never read unasked: running `edge` inside a downloaded
    folder must not let that folder point the speaker's LLM, keys or screens elsewhere."""
    import os

    environ = os.environ if environ is None else environ
    if named is not None:
        return named
    if environ.get("EDGE_CONFIG"):
        return Path(environ["EDGE_CONFIG"]).expanduser()
    own = Path(environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "edge" / "edge.toml"
    if Path("edge.toml").is_file() and Path("edge.toml").resolve() != own.resolve():
        print("edge: ./edge.toml is not read unless named: pass --config edge.toml (or set EDGE_CONFIG)", file=sys.stderr)
    return own if own.is_file() else None


if __name__ == "__main__":
    sys.exit(main())
