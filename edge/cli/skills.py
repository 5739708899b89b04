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

from edge.core.errors import ExitCode
from edge.core.settings import Settings


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


def _run_list(args: argparse.Namespace, settings: Settings) -> int:
    from edge.skills.loader import load_skills

    try:
        loaded = load_skills(settings)
    except Exception as error:  # e.g. an unwritable database: one line for the user
        print(f"edge skills: cannot load skills: {error}", file=sys.stderr)
        return ExitCode.FAILED
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
