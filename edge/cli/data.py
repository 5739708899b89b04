"""`edge data …`: what the speaker keeps about its turns.

    edge data privacy            # every request that left the device, where to and why
    edge data flywheel --export turns.jsonl   # escalated, unsure and corrected turns, for `distill`
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edge.core.errors import ExitCode
from edge.core.settings import Settings

ACTIONS = ("privacy", "flywheel")


def add_commands(commands, common: argparse.ArgumentParser) -> None:
    group = commands.add_parser("data", help="the privacy ledger and the training flywheel",
                                description="What left the device (privacy) and the turns kept for training (flywheel).")
    actions = group.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    privacy = actions.add_parser(
        "privacy", parents=[common], help="show what text left the device, where to, and why",
        description="Print the privacy ledger: every request sent to a cloud LLM, newest last.",
    )
    privacy.add_argument("--limit", type=int, default=20, help="show the newest N entries (default 20)")
    privacy.add_argument("--json", action="store_true", help="one JSON object per entry")
    privacy.set_defaults(handler=_run_privacy)

    flywheel = actions.add_parser(
        "flywheel", parents=[common], help="the training log of escalated, unsure and corrected turns",
        description="Summarise the training log, or export its labelled turns for `distill`.",
    )
    flywheel.add_argument("--export", type=Path, metavar="FILE", help="write text,intent pairs (.jsonl or .csv)")
    flywheel.add_argument("--format", choices=("jsonl", "csv"), help="export format (default: from the file suffix)")
    flywheel.add_argument("--purge", action="store_true", help="delete every logged turn (with --older-than: the old ones)")
    flywheel.add_argument("--older-than", type=float, metavar="DAYS", help="with --purge: only turns older than DAYS")
    flywheel.set_defaults(handler=_run_flywheel)


def _path(settings: Settings, configured: str, name: str) -> Path:
    from edge.runtime.cascade import data_file

    return data_file(settings, configured, name)


def _run_privacy(args: argparse.Namespace, settings: Settings) -> int:
    from edge.escalation.ledger import LedgerError, PrivacyLedger

    path = _path(settings, settings.router.ledger_path, "privacy.sqlite3")
    if not path.exists():
        print(f"nothing has left this device: no ledger at {path}")
        return 0
    try:
        ledger = PrivacyLedger(path)
    except LedgerError as error:
        print(f"edge data privacy: {error}", file=sys.stderr)
        return ExitCode.FAILED
    entries, total = ledger.entries(args.limit), ledger.count()
    ledger.close()
    if args.json:
        for entry in entries:
            print(json.dumps(entry.__dict__, ensure_ascii=False))
        return 0
    print(f"{total} request(s) left this device (ledger: {path}); newest {len(entries)}:")
    for entry in entries:
        user = _last_user_text(entry.sent)
        redacted = ", ".join(f"{count} {kind}" for kind, count in entry.redactions.items()) or "none"
        print(f"\n#{entry.id} {entry.created}  {entry.purpose} -> {entry.endpoint}  [{entry.outcome}]")
        print(f"  why:      {entry.reason}")
        print(f"  sent:     {user!r}" + (f" (+{_context_count(entry.sent)} earlier messages)" if _context_count(entry.sent) else ""))
        print(f"  redacted: {redacted}")
        for call in entry.tool_calls:  # what the model asked the speaker to do, and what the skill did
            print(f"  tool:     {call.get('name')}({call.get('arguments')}) -> {call.get('outcome')}: {call.get('said', '')!r}")
    return 0


def _last_user_text(sent) -> str:
    if isinstance(sent, list):
        users = [message.get("content", "") for message in sent if isinstance(message, dict) and message.get("role") == "user"]
        return users[-1] if users else ""
    return str(sent)


def _context_count(sent) -> int:
    if not isinstance(sent, list):
        return 0
    return max(0, sum(isinstance(m, dict) and m.get("role") in ("user", "assistant") for m in sent) - 1)


def _run_flywheel(args: argparse.Namespace, settings: Settings) -> int:
    from edge.escalation.flywheel import Flywheel, FlywheelError

    path = _path(settings, settings.router.flywheel_path, "flywheel.sqlite3")
    if not path.exists():
        print(f"no training log yet at {path}")
        return 0
    try:
        flywheel = Flywheel(path)
    except FlywheelError as error:
        print(f"edge data flywheel: {error}", file=sys.stderr)
        return ExitCode.FAILED
    try:
        if args.purge:
            count = flywheel.purge(args.older_than)
            print(f"purged {count} logged turn(s) from {path}")
            return 0
        if args.export is not None:
            count = flywheel.export(args.export, args.format or "")
            print(f"wrote {count} labelled example(s) to {args.export}")
            return 0
        examples = flywheel.examples()
    except FlywheelError as error:
        print(f"edge data flywheel: {error}", file=sys.stderr)
        return ExitCode.FAILED
    finally:
        flywheel.close()
    kinds: dict[str, int] = {}
    for example in examples:
        kinds[example.kind] = kinds.get(example.kind, 0) + 1
    labelled = sum(e.label is not None and not e.flagged for e in examples)
    print(f"{len(examples)} logged turn(s) in {path}: " + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())))
    print(f"{labelled} labelled for training, {sum(e.flagged for e in examples)} flagged")
    for example in examples[-10:]:
        flag = f"  FLAGGED: {example.flag_reason}" if example.flagged else ""
        print(f"  [{example.kind}] {example.text!r} -> {example.label or '?'} (model said {example.predicted_intent}){flag}")
    return 0
