"""`distill corrections EXPORT`: quarantine suspicious user corrections of a flywheel export.

    distill corrections flywheel.jsonl --bundle edge/models/hwu64-minilm-int8 --reference hwu64
    # -> flywheel.kept.jsonl        every other row, and the corrections that passed (for `--extra`)
    #    flywheel.quarantine.jsonl  the quarantined corrections, each with its score and reason

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

        parser.add_argument("export", type=Path, help="a flywheel JSONL export (edge flywheel --export FILE.jsonl)")
        parser.add_argument("--bundle", type=Path, required=True, help="the teacher: the shipped (or a larger) bundle")
        parser.add_argument("--reference", metavar="DATASET",
                            help="labelled data whose similar texts count as votes too (train split), e.g. hwu64")
        parser.add_argument("--data", type=Path, default=default_data_dir(), help="shared data folder, for --reference")
        parser.add_argument("--threshold", type=float, help="quarantine at or over this score (default: the tuned one)")
        parser.add_argument("--out", type=Path, help="kept rows (default EXPORT.kept.jsonl)")
        parser.add_argument("--quarantine", type=Path, help="quarantined corrections (default EXPORT.quarantine.jsonl)")

    def run(self, args: argparse.Namespace) -> int:
        from distill.corrections import ScoringSettings, bundle_teacher, score_corrections

        rows, items, where = read_rows(args.export)
        reference = []
        if args.reference:
            from distill.data.sources import load_dataset

            reference = [(e.text, e.intent) for e in load_dataset(args.reference, args.data)["train"]]
        settings = ScoringSettings()
        if args.threshold is not None:
            settings = replace(settings, threshold=args.threshold)
        scores = score_corrections(items, bundle_teacher(args.bundle), reference, settings)
        out = args.out or args.export.with_suffix(".kept.jsonl")
        quarantine = args.quarantine or args.export.with_suffix(".quarantine.jsonl")
        held = {where[i]: s for i, s in enumerate(scores) if s.quarantined}
        with out.open("w", encoding="utf-8") as kept, quarantine.open("w", encoding="utf-8") as bad:
            for index, row in enumerate(rows):
                if index in held:
                    bad.write(json.dumps({**row, "score": round(held[index].total, 4),
                                          "reason": held[index].reason}, ensure_ascii=False) + "\n")
                else:
                    kept.write(json.dumps(row, ensure_ascii=False) + "\n")
        print(f"{len(items)} corrections scored, {len(held)} quarantined (threshold {settings.threshold:g}); "
              f"kept {len(rows) - len(held)} rows in {out}; quarantine in {quarantine}")
        return 0


def read_rows(path: Path) -> tuple[list[dict], list, list[int]]:
    """The export's rows, its corrections (distill.corrections.Correction) and each one's row index."""
    from distill.corrections import read_export

    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as error:
        raise DataFormatError(f"cannot read {path}: {error.strerror}") from error
    items = read_export(path)  # names the line of a malformed row
    rows = [json.loads(line) for line in raw.splitlines() if line.strip()]
    where = [i for i, row in enumerate(rows) if row.get("kind") == "correction"]
    return rows, items, where
