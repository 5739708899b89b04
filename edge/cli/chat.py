"""`edge chat`: a typed conversation through the one Turn, one reply per line.

    printf 'Book a hotel near Beijing West station\nFriday\n' | edge chat
    edge chat --json --wait-alerts 10       # traces as JSON lines; stay for timers that go off
    edge chat --area kitchen                # as if from the kitchen satellite
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import TextIO

from edge.core.errors import ExitCode
from edge.core.settings import Settings


def add_commands(commands, common: argparse.ArgumentParser) -> None:
    chat = commands.add_parser(
        "chat", parents=[common], help="a typed conversation (stdin or the terminal), one reply per line",
        description="Read requests line by line as one conversation and print each reply. Questions the "
        "speaker asks are answered on the next line, as a spoken follow-up would be.",
    )
    chat.add_argument("--json", action="store_true", help="print each turn's trace (and each alert) as one JSON line")
    chat.add_argument("--session", default="chat", help="conversation name (default 'chat')")
    chat.add_argument("--area", default="", help="the room the requests come from, as a satellite's area "
                      "(\"turn on the lights\" means its lights)")
    chat.add_argument("--wait-alerts", type=float, default=0.0, metavar="SECONDS",
                      help="after the last line, wait up to this long for timers and reminders to go off")
    chat.set_defaults(handler=_run_chat)


def _run_chat(args: argparse.Namespace, settings: Settings) -> int:
    from edge.runtime.chat import TextConversation

    printer = _Printer(sys.stdout, args.json)
    try:
        chat = TextConversation.load(settings, on_alert=printer.alert, session=args.session, area=args.area)
    except Exception as error:  # model or database loading: one line for the user
        print(f"edge chat: cannot start: {error}", file=sys.stderr)
        return ExitCode.FAILED
    with chat:
        for problem in chat.skill_problems:
            print(f"edge chat: skipped a skill: {problem}", file=sys.stderr)
        chat.alerts.start()
        for line in _lines(sys.stdin):
            printer.turn(chat.turn(line))
        _wait_for_alerts(chat, args.wait_alerts)
    return 0


def _lines(stream: TextIO) -> Iterator[str]:
    interactive = stream.isatty()
    while True:
        if interactive:
            print("you> ", end="", flush=True)
        line = stream.readline()
        if not line:
            return
        text = line.strip()
        if text and not text.startswith("#"):
            yield text


def _wait_for_alerts(chat, seconds: float) -> None:
    """Keep the conversation open until the alerts due within `seconds` have been announced."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        now = chat.now()
        due = chat.alerts.next_due(now)
        if due is None or due - now > timedelta(seconds=deadline - time.monotonic()):
            return
        time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
    chat.alerts.poll()


class _Printer:
    """Prints turns and alerts (alerts arrive on another thread) one whole line at a time."""

    def __init__(self, out: TextIO, as_json: bool) -> None:
        self.out, self.as_json = out, as_json
        self._lock = threading.Lock()

    def turn(self, trace: dict) -> None:
        self._write(json.dumps(trace, ensure_ascii=False) if self.as_json else f"edge> {trace['reply']}")

    def alert(self, alert) -> None:
        if self.as_json:
            self._write(json.dumps({"alert": {"kind": alert.kind, "text": alert.text, "due": alert.due.isoformat()}}))
        else:
            self._write(f"edge> [{alert.kind}] {alert.text}")

    def _write(self, line: str) -> None:
        with self._lock:
            print(line, file=self.out, flush=True)
