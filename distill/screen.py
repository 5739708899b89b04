"""`distill corrections EXPORT...`: quarantine suspicious user corrections of flywheel exports.

    distill corrections flywheel.jsonl --bundle edge/models/hwu64-minilm-int8 --reference hwu64
    # -> flywheel.kept.jsonl        every other row, and the corrections that passed (for `--extra`)
    #    flywheel.quarantine.jsonl  the quarantined corrections, each with its score and reason
    distill corrections room-101.jsonl room-102.jsonl ... --bundle B --out line.kept.jsonl
    # many speakers' exports: merged (a user becomes SPEAKER/SESSION, SPEAKER = the file's stem),
    # de-duplicated (one row per text and label, one correction per text, label and user), scored together

The scoring is distill.corrections (teacher, similar texts of other users, the user's history and
rate); `--threshold` overrides the tuned one.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from distill.data.records import DataFormatError


class CorrectionsCommand:
    name = "corrections"
    help = "score a flywheel export's corrections; write the kept rows and the quarantined ones with reasons"

    def register(self, parser: argparse.ArgumentParser) -> None:
        from distill.data.records import default_data_dir

        parser.add_argument("export", type=Path, nargs="+",
                            help="flywheel JSONL exports (edge data flywheel --export FILE.jsonl), one per speaker")
        parser.add_argument("--bundle", type=Path, required=True, help="the teacher: the shipped (or a larger) bundle")
        parser.add_argument("--reference", metavar="DATASET",
                            help="labelled data whose similar texts count as votes too (train split), e.g. hwu64")
        parser.add_argument("--data", type=Path, default=default_data_dir(), help="shared data folder, for --reference")
        parser.add_argument("--threshold", type=float, help="quarantine at or over this score (default: the tuned one)")
        parser.add_argument("--out", type=Path, help="kept rows (default EXPORT.kept.jsonl; needed for several)")
        parser.add_argument("--quarantine", type=Path,
                            help="quarantined corrections (default: beside --out, .quarantine.jsonl)")

    def run(self, args: argparse.Namespace) -> int:
        from distill.corrections import ScoringSettings, bundle_teacher, score_corrections

        if len(args.export) > 1 and args.out is None:
            raise DataFormatError("several exports are merged into one file: name it with --out FILE.jsonl")
        rows, items, where = read_rows(args.export)
        reference = []
        if args.reference:
            from distill.data.sources import load_dataset

            reference = [(e.text, e.intent) for e in load_dataset(args.reference, args.data)["train"]]
        settings = ScoringSettings()
        if args.threshold is not None:
            settings = replace(settings, threshold=args.threshold)
        scores = score_corrections(items, bundle_teacher(args.bundle), reference, settings)
        out = args.out or args.export[0].with_suffix(".kept.jsonl")
        quarantine = args.quarantine or out.with_name(out.name.removesuffix(".jsonl").removesuffix(".kept")
                                                       + ".quarantine.jsonl")
        scored = {where[i]: s for i, s in enumerate(scores)}
        held = {i for i, s in scored.items() if s.quarantined}
        with out.open("w", encoding="utf-8") as kept, quarantine.open("w", encoding="utf-8") as bad:
            for index, row in enumerate(rows):
                if index in scored:  # a score marks a correction as screened (distill.data.extra checks it)
                    row = {**row, "score": round(scored[index].total, 4)}
                if index in held:
                    bad.write(json.dumps({**row, "reason": scored[index].reason}, ensure_ascii=False) + "\n")
                else:
                    kept.write(json.dumps(row, ensure_ascii=False) + "\n")
        print(f"{len(items)} corrections scored, {len(held)} quarantined (threshold {settings.threshold:g}); "
              f"kept {len(rows) - len(held)} rows in {out}; quarantine in {quarantine}")
        return 0


def read_rows(paths: list[Path]) -> tuple[list[dict], list, list[int]]:
    """The exports' rows merged and de-duplicated, their corrections (distill.corrections.Correction)
    and each correction's row index. With several exports a user is SPEAKER/SESSION (the file's stem)."""
    from distill.corrections import correction_of, read_export_rows

    rows, seen = [], set()
    for path in paths:
        for row in read_export_rows(path):  # names the line of a malformed row
            if len(paths) > 1 and row.get("user"):
                row = {**row, "user": f"{path.stem}/{row['user']}"}
            correction = row.get("kind") == "correction"
            key = (row["text"], row["intent"], row.get("user") if correction else None, correction)
            if key not in seen:
                seen.add(key)
                rows.append(row)
    where = [i for i, row in enumerate(rows) if row.get("kind") == "correction"]
    return rows, [correction_of(rows[i]) for i in where], where
