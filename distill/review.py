"""`distill review EXPORT`: a person accepts, relabels or drops a flywheel export's items in the
terminal; an HTML report says what changed and why.

    distill review flywheel.jsonl --bundle edge/models/hwu64-minilm-int8 --reference hwu64
    # quarantined corrections first (with the reason), then the rest; per item:
    #   a = accept   r INTENT = relabel   d = drop   q = stop here (the rest keep their default)
    # -> flywheel.reviewed.jsonl   the accepted and relabelled rows (for `distill train --extra`)
    #    flywheel.review.html      every item: its label, the decision, the new label, score and reason

The default decision (an empty answer, and everything after `q`) is to drop a quarantined
correction and accept everything else. Answers are read from standard input, so a file of
answers can be piped in.
"""

from __future__ import annotations

import argparse
import html
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from distill.data.records import DataFormatError


@dataclass
class Item:
    row: dict
    score: float | None  # None: not a correction (not scored)
    quarantined: bool
    reason: str
    decision: str = ""  # accept | relabel | drop
    label: str = ""  # the label it is kept with
    why: str = ""  # default | reviewer


class ReviewCommand:
    name = "review"
    help = "accept, relabel or drop a flywheel export's items in the terminal; an HTML report of the changes"

    def register(self, parser: argparse.ArgumentParser) -> None:
        from distill.data.records import default_data_dir

        parser.add_argument("export", type=Path, help="a flywheel JSONL export (edge flywheel --export FILE.jsonl)")
        parser.add_argument("--bundle", type=Path, required=True, help="the teacher (the shipped bundle); its intents")
        parser.add_argument("--reference", metavar="DATASET", help="labelled data for the neighbour votes, e.g. hwu64")
        parser.add_argument("--data", type=Path, default=default_data_dir(), help="shared data folder, for --reference")
        parser.add_argument("--out", type=Path, help="reviewed rows (default EXPORT.reviewed.jsonl)")
        parser.add_argument("--report", type=Path, help="HTML report (default EXPORT.review.html)")

    def run(self, args: argparse.Namespace) -> int:
        from distill.corrections import ScoringSettings, bundle_teacher, score_corrections
        from distill.screen import read_rows

        check_export(args.export)
        rows, corrections, where = read_rows([args.export])
        intents = set(json.loads((args.bundle / "labels.json").read_text())["intents"])
        reference = []
        if args.reference:
            from distill.data.sources import load_dataset

            reference = [(e.text, e.intent) for e in load_dataset(args.reference, args.data)["train"]]
        scores = score_corrections(corrections, bundle_teacher(args.bundle), reference, ScoringSettings())
        by_row = dict(zip(where, scores, strict=True))
        items = [Item(row, by_row[i].total if i in by_row else None, i in by_row and by_row[i].quarantined,
                      by_row[i].reason if i in by_row else "") for i, row in enumerate(rows)]
        order = sorted(items, key=lambda item: (not item.quarantined, -(item.score or 0.0)))
        ask(order, intents)
        out = args.out or args.export.with_suffix(".reviewed.jsonl")
        report = args.report or args.export.with_suffix(".review.html")
        kept = [item for item in items if item.decision != "drop"]
        out.write_text("".join(json.dumps({**item.row, "intent": item.label, "review": item.decision},
                                          ensure_ascii=False) + "\n" for item in kept), encoding="utf-8")
        report.write_text(html_report(order, args.export.name), encoding="utf-8")
        changed = sum(item.decision != "accept" for item in items)
        print(f"{len(items)} items: {len(kept)} kept, {changed} changed (dropped or relabelled); {out}; report {report}")
        return 0


def ask(items: list[Item], intents: set[str]) -> None:
    """Prompt for each item in turn (answers from stdin); `q` or the end of input: defaults for the rest."""
    stop = False
    for number, item in enumerate(items, 1):
        item.decision, item.label, item.why = ("drop" if item.quarantined else "accept"), item.row["intent"], "default"
        if stop:
            continue
        flag = f"QUARANTINED {item.reason}" if item.quarantined else (item.reason or item.row.get("kind", ""))
        print(f"[{number}/{len(items)}] {item.row['text']!r} -> {item.row['intent']} "
              f"(user {item.row.get('user') or '?'}) {flag}")
        while True:
            print("  a = accept, r INTENT = relabel, d = drop, q = stop (default: "
                  f"{item.decision})> ", end="", flush=True)
            answer = sys.stdin.readline()
            if not answer:
                stop = True
                break
            word, _, rest = answer.strip().partition(" ")
            if word in ("", "a", "d", "q", "r"):
                if word == "q":
                    stop = True
                elif word == "r" and rest.strip() not in intents:
                    print(f"  unknown intent {rest.strip()!r}; the bundle knows {len(intents)} (e.g. "
                          f"{', '.join(sorted(intents)[:4])}, ...)")
                    continue
                elif word:
                    item.decision = {"a": "accept", "d": "drop", "r": "relabel"}[word]
                    item.label, item.why = (rest.strip() if word == "r" else item.row["intent"]), "reviewer"
                break
            print(f"  not an answer: {answer.strip()!r}")


def html_report(items: list[Item], source: str) -> str:
    def cell(value: object) -> str:
        return f"<td>{html.escape(str(value))}</td>"

    counts = {d: sum(item.decision == d for item in items) for d in ("accept", "relabel", "drop")}
    rows = []
    for item in items:
        style = ' class="q"' if item.quarantined else ""
        rows.append(f"<tr{style}>" + "".join(cell(v) for v in (
            item.row["text"], item.row.get("kind", ""), item.row.get("user") or "", item.row["intent"],
            item.decision, item.label if item.decision == "relabel" else "", item.why,
            "" if item.score is None else f"{item.score:.2f}", "yes" if item.quarantined else "", item.reason,
        )) + "</tr>")
    head = "".join(f"<th>{h}</th>" for h in ("text", "kind", "user", "label", "decision", "new label", "decided by",
                                              "score", "quarantined", "why (distill.corrections)"))
    return (
        "<!doctype html><meta charset=utf-8><title>distill review</title>"
        "<style>body{font-family:sans-serif}td,th{border:1px solid #ccc;padding:2px 6px;font-size:13px}"
        "table{border-collapse:collapse}tr.q{background:#fde2e2}</style>"
        f"<h1>Review of {html.escape(source)}</h1>"
        f"<p>{len(items)} items: {counts['accept']} accepted, {counts['relabel']} relabelled, {counts['drop']} dropped. "
        "Quarantined corrections (red) are dropped unless a reviewer accepts them.</p>"
        f"<table><tr>{head}</tr>{''.join(rows)}</table>\n"
    )


def check_export(path: Path) -> None:
    if path.suffix.lower() != ".jsonl":
        raise DataFormatError(f"{path}: distill review reads a JSONL flywheel export (edge flywheel --export F.jsonl)")
