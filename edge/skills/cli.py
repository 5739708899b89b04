"""`edge skills list`, `edge skills examples` and `edge chat`.

    edge skills list                      # installed skills, their intents, and skills that were skipped
    edge skills examples > skills.jsonl   # labelled training sentences from every skill's YAML
    printf 'book a hotel near beijing west station\\nfriday\\nabout 200 yuan\\nyes\\n' | edge chat
    edge chat --json --wait-alerts 10 < script.txt   # one turn trace per line; wait for timers
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

from edge.settings import Settings

EXIT_FAILED = 1


def add_commands(commands, common: argparse.ArgumentParser) -> None:
    skills = commands.add_parser("skills", parents=[common], help="installed skills and their intents",
                                 description="What skills are installed, and their declared intents.")
    actions = skills.add_subparsers(dest="skills_command", required=True, metavar="ACTION")
    listing = actions.add_parser("list", parents=[common], help="skills, intents, sentences, and skipped skills")
    listing.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    listing.set_defaults(handler=_run_list)
    examples = actions.add_parser("examples", parents=[common], help="training sentences (JSON lines) from the skills' YAML")
    examples.add_argument("--per-sentence", type=int, default=20, help="sentence shapes per template (default 20)")
    examples.set_defaults(handler=_run_examples)

    chat = commands.add_parser(
        "chat", parents=[common], help="a typed conversation (stdin or the terminal), one reply per line",
        description="Read requests line by line as one conversation and print each reply. Questions the "
        "speaker asks are answered on the next line, as a spoken follow-up would be.",
    )
    chat.add_argument("--json", action="store_true", help="print each turn's trace (and each alert) as one JSON line")
    chat.add_argument("--session", default="chat", help="conversation name (default 'chat')")
    chat.add_argument("--wait-alerts", type=float, default=0.0, metavar="SECONDS",
                      help="after the last line, wait up to this long for timers and reminders to go off")
    chat.set_defaults(handler=_run_chat)


def _run_list(args: argparse.Namespace, settings: Settings) -> int:
    from edge.skills.loader import load_skills

    try:
        loaded = load_skills(settings)
    except Exception as error:  # e.g. an unwritable database: one line for the user
        print(f"edge skills: cannot load skills: {error}", file=sys.stderr)
        return EXIT_FAILED
    try:
        rows = []
        for skill in loaded.registry.skills:
            intents = {intent: len(skill.spec.intents[intent].sentences) if skill.spec and intent in skill.spec.intents
                       else 0 for intent in skill.intents}
            rows.append({"skill": skill.name, "origin": loaded.origins.get(skill.name, ""), "intents": intents,
                         "available": all(skill.available(intent) for intent in skill.intents)})
        if args.json:
            print(json.dumps({"skills": rows, "skipped": loaded.problems}, ensure_ascii=False))
            return 0
        for row in rows:
            state = "" if row["available"] else "  (not set up)"
            print(f"{row['skill']:<12} {row['origin']}{state}")
            for intent, sentences in row["intents"].items():
                print(f"    {intent:<24} {sentences} sentence{'s' if sentences != 1 else ''}" if sentences else f"    {intent}")
        for problem in loaded.problems:
            print(f"skipped: {problem}")
    finally:
        loaded.close()
    return 0


def _run_examples(args: argparse.Namespace, settings: Settings) -> int:
    from edge.skills.examples import collect_skill_examples

    problems: list[str] = []
    for example in collect_skill_examples(per_sentence=args.per_sentence, entry_points=settings.skills.entry_points,
                                          problems=problems):
        spans = [span._asdict() for span in example.slots]
        print(json.dumps({"text": example.text, "intent": example.intent, "slots": spans}, ensure_ascii=False))
    for problem in problems:
        print(f"edge skills examples: skipped: {problem}", file=sys.stderr)
    return 0


def _run_chat(args: argparse.Namespace, settings: Settings) -> int:
    from edge.conversation.chat import TextConversation

    printer = _Printer(sys.stdout, args.json)
    try:
        chat = TextConversation.load(settings, on_alert=printer.alert, session=args.session)
    except Exception as error:  # model or database loading: one line for the user
        print(f"edge chat: cannot start: {error}", file=sys.stderr)
        return EXIT_FAILED
    with chat:
        for problem in chat.skills.problems:
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
        now = chat.skills.context.clock()
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
